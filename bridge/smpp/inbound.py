"""MOs out of deliver_sm / data_sm, read without ever raising: ``parse_mo`` reads an MO
part's addresses, text and concatenation data (UDH with an 8- or 16-bit reference, or SAR
TLVs); ``join_parts`` makes one text of a complete set of parts. (Receipts and
``parse_inbound``, which tells the two apart, are in ``bridge.smpp.receipts``.)

A UDH that lies about its length or its elements yields a flagged result (``problem``),
never an exception, and the message is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bridge.smpp import pdu as p
from bridge.smpp.constants import EsmClass
from bridge.smpp.text import DecodedText, decode_text

IEI_CONCAT_8 = 0x00
IEI_PORTS_8 = 0x04
IEI_PORTS_16 = 0x05
IEI_CONCAT_16 = 0x08


@dataclass(frozen=True, slots=True)
class Concatenation:
    reference: int
    total: int
    seq: int  # 1-based
    bits: int  # 8 or 16: the reference's size (SAR: 16)
    source: Literal["udh", "sar"] = "udh"


@dataclass(frozen=True, slots=True)
class InboundMessage:
    sender: str
    recipient: str
    data_coding: int
    text: DecodedText  # of this part's user data, without its UDH
    concatenation: Concatenation | None  # None: a single message (or unusable data)
    problem: str | None = None
    sender_ton: int = 0
    sender_npi: int = 0
    recipient_ton: int = 0
    recipient_npi: int = 0
    esm_class: int = 0
    protocol_id: int = 0
    source_port: int | None = None  # TLV, else UDH application port IE
    destination_port: int | None = None
    udh: tuple[tuple[int, bytes], ...] = ()  # every UDH element as read (iei, data)


def _split_udh(
    data: bytes,
) -> tuple[tuple[tuple[int, bytes], ...], bytes, str | None]:
    """(elements, user data after the UDH, problem). A UDH whose length runs past the body
    leaves the body whole; an element running past the header ends the reading."""
    if not data:
        return (), data, "UDHI set on an empty body"
    length = data[0]
    if length + 1 > len(data):
        return (), data, f"UDH length {length} runs past the body"
    header, body = data[1 : length + 1], data[length + 1 :]
    elements: list[tuple[int, bytes]] = []
    i = 0
    while i < len(header):
        if i + 2 > len(header):
            return tuple(elements), body, "a UDH element header runs past the UDH"
        iei, size = header[i], header[i + 1]
        value = header[i + 2 : i + 2 + size]
        if len(value) != size:
            return tuple(elements), body, f"UDH element 0x{iei:02X} runs past the UDH"
        elements.append((iei, value))
        i += 2 + size
    return tuple(elements), body, None


def _from_udh(
    elements: Sequence[tuple[int, bytes]],
) -> tuple[Concatenation | None, int | None, int | None]:
    concat: Concatenation | None = None
    source_port = destination_port = None
    for iei, value in elements:
        if iei == IEI_CONCAT_8 and len(value) == 3:
            concat = Concatenation(value[0], value[1], value[2], 8)
        elif iei == IEI_CONCAT_16 and len(value) == 4:
            concat = Concatenation(int.from_bytes(value[:2], "big"), value[2], value[3], 16)
        elif iei == IEI_PORTS_8 and len(value) == 2:
            destination_port, source_port = value[0], value[1]
        elif iei == IEI_PORTS_16 and len(value) == 4:
            destination_port = int.from_bytes(value[:2], "big")
            source_port = int.from_bytes(value[2:], "big")
    return concat, source_port, destination_port


def parse_mo(pdu: p.DeliverSm | p.DataSm) -> InboundMessage:
    """An MO part. Concatenation data from the UDH (when esm_class has UDHI), else from the
    SAR TLVs; an impossible one (part 0, part beyond the total) is dropped and flagged, so
    the part is delivered on its own rather than waiting for parts that cannot come."""
    data = pdu.payload
    problems: list[str] = []
    elements: tuple[tuple[int, bytes], ...] = ()
    concat: Concatenation | None = None
    source_port = destination_port = None
    if pdu.esm_class & EsmClass.UDHI:
        elements, data, problem = _split_udh(data)
        if problem:
            problems.append(problem)
        concat, source_port, destination_port = _from_udh(elements)
    if concat is None:
        sar = pdu.sar
        if sar is not None:
            concat = Concatenation(sar.reference, sar.total, sar.seq, 16, "sar")
    if concat is not None and not 1 <= concat.seq <= concat.total:
        problems.append(f"part {concat.seq} of {concat.total} is impossible")
        concat = None
    tlv_source, tlv_destination = pdu.source_port, pdu.destination_port
    return InboundMessage(
        sender=pdu.source_addr,
        recipient=pdu.destination_addr,
        data_coding=pdu.data_coding,
        text=decode_text(data, pdu.data_coding),
        concatenation=concat,
        problem="; ".join(problems) or None,
        sender_ton=pdu.source_addr_ton,
        sender_npi=pdu.source_addr_npi,
        recipient_ton=pdu.dest_addr_ton,
        recipient_npi=pdu.dest_addr_npi,
        esm_class=pdu.esm_class,
        protocol_id=pdu.protocol_id if isinstance(pdu, p.DeliverSm) else 0,
        source_port=tlv_source if tlv_source is not None else source_port,
        destination_port=tlv_destination if tlv_destination is not None else destination_port,
        udh=elements,
    )


def join_parts(parts: Sequence[InboundMessage]) -> DecodedText:
    """One text of the parts of one message, in part order. The raw bodies are joined
    before decoding, so an escape, a surrogate pair or a multi-octet character that a
    sender cut across parts comes out whole; parts in different codings are decoded one
    by one. Never raises; a part that cannot be decoded makes the result flagged."""
    ordered = sorted(parts, key=lambda m: m.concatenation.seq if m.concatenation else 0)
    if not ordered:
        return DecodedText("", b"", 0)
    codings = {m.data_coding for m in ordered}
    raw = b"".join(m.text.raw for m in ordered)
    if len(codings) == 1:
        return decode_text(raw, ordered[0].data_coding)
    texts = [m.text for m in ordered]
    errors = [t.decode_error for t in texts if t.decode_error]
    if errors:
        return DecodedText(None, raw, ordered[0].data_coding, "; ".join(errors))
    return DecodedText("".join(t.text or "" for t in texts), raw, ordered[0].data_coding)
