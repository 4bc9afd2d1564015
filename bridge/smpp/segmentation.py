"""Long MTs cut into parts, as each SMSC is configured: UDH with an 8- or 16-bit reference,
SAR TLVs, or one PDU with message_payload. Part sizes are the handsets' own:

=========  ======  ==================  ============
coding     single  UDH8 / SAR          UDH16
=========  ======  ==================  ============
GSM        160     153 septets         152 septets
UCS-2      70      67 code units       66 code units
8-bit      140     134 octets          133 octets
=========  ======  ==================  ============

(140 octets of user data; a UDH takes 6 octets with an 8-bit reference, 7 with a 16-bit
one. SAR TLVs put nothing in the body, yet SMSCs turn them into an 8-bit-reference UDH on
the air, so SAR parts get the UDH8 sizes.)

An escaped GSM character (two septets) and a UTF-16 surrogate pair are never split.

Use: ``segment(text, method)`` -> ``Segments`` (coding and part bodies), then
``submits(template, segments, reference)`` -> the submit_sm PDUs to send, in order, all
over one bind. ``count_parts`` gives the count a handset shows.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from bridge.config.settings import LongMessageMethod
from bridge.smpp import pdu as p
from bridge.smpp.constants import EsmClass, Tag
from bridge.smpp.text import ESCAPE, DataCoding, Errors, encode_text

UDHI = EsmClass.UDHI
MAX_PARTS = 255  # the part count is one octet in the UDH and in sar_total_segments
USER_DATA_OCTETS = 140  # one SMS; over SMPP a GSM septet takes one octet of short_message
_SINGLE = {
    DataCoding.GSM: 160,
    DataCoding.UCS2: 140,
    DataCoding.LATIN1: 140,
    DataCoding.BINARY: 140,
}


class TooManyParts(ValueError):
    """The text needs more parts than a concatenated SMS can have."""


@dataclass(frozen=True, slots=True)
class Segments:
    coding: DataCoding
    bodies: tuple[bytes, ...]  # each part's user data, without any header
    method: LongMessageMethod

    @property
    def count(self) -> int:
        """submit_sm PDUs to send (message_payload: one; ``count_parts`` gives the SMS)."""
        return len(self.bodies)


def single_limit(coding: DataCoding) -> int:
    """Octets of short_message one unsegmented SMS takes (GSM: septets)."""
    return _SINGLE[coding]


def part_limit(coding: DataCoding, method: LongMessageMethod) -> int:
    """Octets of user data per part (GSM: septets) once a message needs several parts."""
    header = 7 if method is LongMessageMethod.UDH16 else 6
    if coding is DataCoding.GSM:
        return (USER_DATA_OCTETS - header) * 8 // 7
    if coding is DataCoding.UCS2:
        return (USER_DATA_OCTETS - header) // 2 * 2
    return USER_DATA_OCTETS - header


def _cut(data: bytes, coding: DataCoding, limit: int) -> list[bytes]:
    """Greedy cut at ``limit`` octets, moving the cut back one octet when it would split
    an escape pair (GSM) or a surrogate pair (UCS-2)."""
    bodies: list[bytes] = []
    start, size = 0, len(data)
    while size - start > limit:
        stop = start + limit
        if coding is DataCoding.GSM:
            # Count the escapes just before the cut: an odd run means the last septet is
            # an escape whose character would go to the next part.
            run = 0
            while stop - run - 1 >= start and data[stop - run - 1] == ESCAPE:
                run += 1
            if run % 2:
                stop -= 1
        elif coding is DataCoding.UCS2 and 0xD8 <= data[stop - 2] <= 0xDB:
            stop -= 2  # the last unit is a high surrogate: its low half is next
        bodies.append(data[start:stop])
        start = stop
    bodies.append(data[start:])
    return bodies


def segment_bytes(data: bytes, coding: DataCoding, method: LongMessageMethod) -> Segments:
    """Cut encoded user data into parts; raises ``TooManyParts`` beyond 255."""
    if len(data) <= _SINGLE[coding]:
        return Segments(coding, (data,), method)
    bodies = _cut(data, coding, part_limit(coding, method))
    if len(bodies) > MAX_PARTS:
        raise TooManyParts(f"{len(bodies)} parts; a concatenated SMS has at most {MAX_PARTS}")
    if method is LongMessageMethod.PAYLOAD:
        return Segments(coding, (data,), method)
    return Segments(coding, tuple(bodies), method)


def segment(
    text: str,
    method: LongMessageMethod,
    coding: DataCoding | None = None,
    errors: Errors = "strict",
) -> Segments:
    """Encode (GSM if it can, else UCS-2, unless ``coding`` forces one) and cut."""
    chosen, data = encode_text(text, coding, errors)
    return segment_bytes(data, chosen, method)


def count_parts(
    text: str,
    method: LongMessageMethod = LongMessageMethod.UDH8,
    coding: DataCoding | None = None,
) -> int:
    """The number of SMS the text makes on the handset (message_payload: as the SMSC
    would cut it with an 8-bit reference)."""
    if method is LongMessageMethod.PAYLOAD:
        method = LongMessageMethod.UDH8
    chosen, data = encode_text(text, coding, "replace")
    if len(data) <= _SINGLE[chosen]:
        return 1
    return len(_cut(data, chosen, part_limit(chosen, method)))


_COPIED = tuple(
    f.name for f in fields(p.SubmitSm) if f.name not in ("short_message", "tlvs", "data_coding")
)


def submits(template: p.SubmitSm, segments: Segments, reference: int) -> list[p.SubmitSm]:
    """One submit_sm per part, each a copy of ``template`` (addresses, registered_delivery,
    TLVs...) with its body, data_coding and concatenation: UDH (esm_class UDHI), SAR TLVs,
    or the whole text in message_payload when it does not fit one SMS. ``reference`` is
    the message's concatenation reference (8 or 16 bits are used, as the method says)."""
    total = segments.count
    out: list[p.SubmitSm] = []
    for seq, body in enumerate(segments.bodies, start=1):
        part = p.SubmitSm(**{name: getattr(template, name) for name in _COPIED})
        part.tlvs = list(template.tlvs)
        part.data_coding = int(segments.coding)
        if segments.method is LongMessageMethod.PAYLOAD:
            if len(body) > _SINGLE[segments.coding]:
                part.set_tlv(Tag.MESSAGE_PAYLOAD, body)
            else:
                part.short_message = body
        elif total == 1:
            part.short_message = body
        elif segments.method is LongMessageMethod.UDH8:
            part.esm_class |= UDHI
            part.short_message = bytes((5, 0x00, 3, reference & 0xFF, total, seq)) + body
        elif segments.method is LongMessageMethod.UDH16:
            part.esm_class |= UDHI
            ref = (reference & 0xFFFF).to_bytes(2, "big")
            part.short_message = bytes((6, 0x08, 4)) + ref + bytes((total, seq)) + body
        else:
            part.short_message = body
            part.set_tlv(Tag.SAR_MSG_REF_NUM, reference & 0xFFFF)
            part.set_tlv(Tag.SAR_TOTAL_SEGMENTS, total)
            part.set_tlv(Tag.SAR_SEGMENT_SEQNUM, seq)
        out.append(part)
    return out


def submits_for_text(
    template: p.SubmitSm,
    text: str,
    method: LongMessageMethod,
    reference: int,
    coding: DataCoding | None = None,
    errors: Errors = "strict",
) -> list[p.SubmitSm]:
    """``submits(template, segment(text, method, coding, errors), reference)``."""
    return submits(template, segment(text, method, coding, errors), reference)
