"""Long MTs cut into parts, as each SMSC is configured: UDH with an 8- or 16-bit reference,
SAR TLVs, or one PDU with message_payload. Part sizes are the handsets' own:

=========  ======  ===========  ============
coding     single  UDH8 / SAR   UDH16
=========  ======  ===========  ============
GSM        160     153 septets  152 septets
UCS-2      70      67 units     66 units
8-bit      140     134 octets   133 octets
=========  ======  ===========  ============

An escaped GSM character (two septets) and a UTF-16 surrogate pair are never split.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.config.settings import LongMessageMethod
from bridge.smpp import pdu as p
from bridge.smpp.constants import Tag
from bridge.smpp.text import ESCAPE, DataCoding, encode_text

UDHI = 0x40
_SINGLE = {
    DataCoding.GSM: 160,
    DataCoding.UCS2: 140,
    DataCoding.LATIN1: 140,
    DataCoding.BINARY: 140,
}
_USER_DATA_OCTETS = 140  # what one SMS carries (GSM septets are counted one per octet here)


@dataclass(frozen=True, slots=True)
class Segments:
    coding: DataCoding
    bodies: tuple[bytes, ...]  # each part's user data, without any header
    method: LongMessageMethod

    @property
    def count(self) -> int:
        return len(self.bodies)


def _units(data: bytes, coding: DataCoding) -> list[bytes]:
    """Indivisible units: an escape pair, a surrogate pair, or one character/octet."""
    units: list[bytes] = []
    i = 0
    if coding is DataCoding.GSM:
        while i < len(data):
            step = 2 if data[i] == ESCAPE and i + 1 < len(data) else 1
            units.append(data[i : i + step])
            i += step
    elif coding is DataCoding.UCS2:
        while i < len(data):
            high = int.from_bytes(data[i : i + 2], "big")
            step = 4 if 0xD800 <= high <= 0xDBFF else 2
            units.append(data[i : i + step])
            i += step
    else:
        units = [data[j : j + 1] for j in range(len(data))]
    return units


def part_limit(coding: DataCoding, method: LongMessageMethod) -> int:
    """Octets of user data per part (GSM: septets) once a message needs several parts."""
    header = 7 if method is LongMessageMethod.UDH16 else 6  # SAR: the UDH8 sizes, by convention
    if coding is DataCoding.GSM:
        return (_USER_DATA_OCTETS - header) * 8 // 7
    if coding is DataCoding.UCS2:
        return (_USER_DATA_OCTETS - header) // 2 * 2
    return _USER_DATA_OCTETS - header


def segment(
    text: str,
    method: LongMessageMethod,
    coding: DataCoding | None = None,
) -> Segments:
    chosen, data = encode_text(text, coding)
    return segment_bytes(data, chosen, method)


def segment_bytes(data: bytes, coding: DataCoding, method: LongMessageMethod) -> Segments:
    if len(data) <= _SINGLE[coding] or method is LongMessageMethod.PAYLOAD:
        return Segments(coding, (data,), method)
    limit = part_limit(coding, method)
    bodies: list[bytes] = []
    current = bytearray()
    for unit in _units(data, coding):
        if len(current) + len(unit) > limit:
            bodies.append(bytes(current))
            current = bytearray()
        current += unit
    if current:
        bodies.append(bytes(current))
    return Segments(coding, tuple(bodies), method)


def count_parts(text: str, method: LongMessageMethod = LongMessageMethod.UDH8) -> int:
    return segment(text, method).count


def submits(template: p.SubmitSm, segments: Segments, reference: int) -> list[p.SubmitSm]:
    """One submit_sm per part, each a copy of ``template`` with its body and concatenation."""
    total = segments.count
    out: list[p.SubmitSm] = []
    for seq, body in enumerate(segments.bodies, start=1):
        part = p.SubmitSm(**{f: getattr(template, f) for f in _FIELDS}, tlvs=list(template.tlvs))
        part.data_coding = int(segments.coding)
        if segments.method is LongMessageMethod.PAYLOAD and len(body) > 254:
            part.short_message = b""
            part.tlvs.append((Tag.MESSAGE_PAYLOAD, body))
        elif total == 1:
            part.short_message = body
        elif segments.method is LongMessageMethod.UDH8:
            part.esm_class |= UDHI
            part.short_message = bytes((5, 0x00, 3, reference & 0xFF, total, seq)) + body
        elif segments.method is LongMessageMethod.UDH16:
            part.esm_class |= UDHI
            ref = (reference & 0xFFFF).to_bytes(2, "big")
            part.short_message = bytes((6, 0x08, 4)) + ref + bytes((total, seq)) + body
        else:  # SAR
            part.short_message = body
            part.tlvs += [
                (Tag.SAR_MSG_REF_NUM, (reference & 0xFFFF).to_bytes(2, "big")),
                (Tag.SAR_TOTAL_SEGMENTS, bytes((total,))),
                (Tag.SAR_SEGMENT_SEQNUM, bytes((seq,))),
            ]
        out.append(part)
    return out


_FIELDS = (
    "service_type", "source_addr_ton", "source_addr_npi", "source_addr", "dest_addr_ton",
    "dest_addr_npi", "destination_addr", "esm_class", "protocol_id", "priority_flag",
    "schedule_delivery_time", "validity_period", "registered_delivery",
    "replace_if_present_flag", "sm_default_msg_id",
)  # fmt: skip
