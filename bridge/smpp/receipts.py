"""Delivery receipts and MOs out of deliver_sm / data_sm. Nothing here raises on bad input:
what can be read is returned, with a note of what could not.

A DR is read from its TLVs first (receipted_message_id, message_state, network_error_code);
the carrier's receipt text (``id:... sub:... dlvrd:... submit date:... done date:...
stat:... err:... text:...``) is the fallback, read leniently: any order, any case, extra
spaces, missing fields, 10- or 12-digit dates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from bridge.smpp import pdu as p
from bridge.smpp.constants import MessageState, Tag
from bridge.smpp.text import DecodedText, decode_text

# esm_class bits 2-5: message type. 0x04 SMSC delivery receipt, 0x08 SME ack,
# 0x10 manual ack, 0x20 intermediate notification.
_RECEIPT_TYPES = {0x04, 0x08, 0x10, 0x20}

_KEYS = re.compile(r"(?i)\b(id|sub|dlvrd|submit[ _]?date|done[ _]?date|stat|err|text)\s*:")
_STATES = {
    "DELIVRD": MessageState.DELIVERED, "DELIVERED": MessageState.DELIVERED,
    "EXPIRED": MessageState.EXPIRED, "DELETED": MessageState.DELETED,
    "UNDELIV": MessageState.UNDELIVERABLE, "UNDELIVERABLE": MessageState.UNDELIVERABLE,
    "ACCEPTD": MessageState.ACCEPTED, "ACCEPTED": MessageState.ACCEPTED,
    "UNKNOWN": MessageState.UNKNOWN, "REJECTD": MessageState.REJECTED,
    "REJECTED": MessageState.REJECTED, "ENROUTE": MessageState.ENROUTE,
}  # fmt: skip
FINAL_STATES = frozenset(
    {MessageState.DELIVERED, MessageState.EXPIRED, MessageState.DELETED,
     MessageState.UNDELIVERABLE, MessageState.REJECTED}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Receipt:
    message_id: str | None  # as the SMSC wrote it: normalise with bridge.smpp.ids
    state: MessageState | None
    error_code: str | None
    submit_date: datetime | None
    done_date: datetime | None
    fields: dict[str, str]  # the receipt text's fields, as read
    problems: tuple[str, ...] = ()

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


def is_receipt(pdu: p.DeliverSm | p.DataSm) -> bool:
    return (pdu.esm_class & 0x3C) in _RECEIPT_TYPES or pdu.tlv(Tag.RECEIPTED_MESSAGE_ID) is not None


def parse_receipt_text(text: str) -> dict[str, str]:
    """``{"id": ..., "stat": ..., "submit date": ...}`` from a receipt text; keys lowercase."""
    fields: dict[str, str] = {}
    matches = list(_KEYS.finditer(text))
    for i, match in enumerate(matches):
        key = re.sub(r"[ _]?date", " date", match.group(1).lower())
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        value = text[match.end() : end] if key == "text" else text[match.end() : end].strip()
        fields.setdefault(key, value.strip() if key != "text" else value.lstrip())
    return fields


def parse_date(value: str | None) -> datetime | None:
    """yyMMddhhmm or yyMMddhhmmss (the carrier's local time, read as UTC)."""
    if not value or not value.isdigit() or len(value) not in (10, 12):
        return None
    try:
        return datetime.strptime(
            value, "%y%m%d%H%M%S" if len(value) == 12 else "%y%m%d%H%M"
        ).replace(tzinfo=UTC)
    except ValueError:
        return None


def parse_state(value: str | None) -> MessageState | None:
    if not value:
        return None
    value = value.strip().upper()
    if value.isdigit():
        number = int(value)
        return MessageState(number) if 1 <= number <= 8 else None
    return _STATES.get(value)


def parse_receipt(pdu: p.DeliverSm | p.DataSm) -> Receipt:
    problems: list[str] = []
    # Receipt texts are ASCII in practice even under data_coding 0 (read as GSM, "_" would
    # become "§"); only UCS-2 is decoded as such.
    text = (
        pdu.payload.decode("utf-16-be", "replace")
        if pdu.data_coding == 0x08
        else pdu.payload.decode("latin-1")
    )
    fields = parse_receipt_text(text)

    message_id = pdu.tlv_cstring(Tag.RECEIPTED_MESSAGE_ID) or fields.get("id") or None
    if message_id is None:
        problems.append("no receipted_message_id TLV and no id: in the text")

    state: MessageState | None = None
    tlv_state = pdu.tlv_int(Tag.MESSAGE_STATE)
    if tlv_state is not None:
        state = MessageState(tlv_state) if 1 <= tlv_state <= 8 else None
        if state is None:
            problems.append(f"message_state TLV {tlv_state} is not a known state")
    if state is None:
        state = parse_state(fields.get("stat"))
        if state is None:
            problems.append(f"no readable state (stat: {fields.get('stat')!r})")

    error_code: str | None = None
    network_error = pdu.tlv(Tag.NETWORK_ERROR_CODE)
    if network_error is not None and len(network_error) == 3:
        error_code = f"{network_error[0]}:{int.from_bytes(network_error[1:], 'big')}"
    elif fields.get("err"):
        error_code = fields["err"]

    submit_date = parse_date(fields.get("submit date"))
    done_date = parse_date(fields.get("done date"))
    for key, parsed in (("submit date", submit_date), ("done date", done_date)):
        if key in fields and parsed is None:
            problems.append(f"{key} {fields[key]!r} is not yyMMddhhmm[ss]")
    return Receipt(message_id, state, error_code, submit_date, done_date, fields, tuple(problems))


# --- MOs ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Concatenation:
    reference: int
    total: int
    seq: int
    bits: int  # 8 or 16 (UDH); 16 for SAR


@dataclass(frozen=True, slots=True)
class InboundMessage:
    sender: str
    recipient: str
    data_coding: int
    text: DecodedText  # of this part's user data, without its UDH
    concatenation: Concatenation | None
    problem: str | None = None


def _split_udh(data: bytes) -> tuple[Concatenation | None, bytes, str | None]:
    if not data:
        return None, data, "UDHI set on an empty body"
    length = data[0]
    if length + 1 > len(data):
        return None, data, f"UDH length {length} runs past the body"
    header, body = data[1 : length + 1], data[length + 1 :]
    concat: Concatenation | None = None
    i = 0
    while i + 2 <= len(header):
        iei, size = header[i], header[i + 1]
        value = header[i + 2 : i + 2 + size]
        if len(value) != size:
            return None, body, "a UDH element runs past the header"
        if iei == 0x00 and size == 3:
            concat = Concatenation(value[0], value[1], value[2], 8)
        elif iei == 0x08 and size == 4:
            concat = Concatenation(int.from_bytes(value[:2], "big"), value[2], value[3], 16)
        i += 2 + size
    return concat, body, None


def parse_mo(pdu: p.DeliverSm | p.DataSm) -> InboundMessage:
    data = pdu.payload
    concat: Concatenation | None = None
    problem: str | None = None
    if pdu.esm_class & 0x40:
        concat, data, problem = _split_udh(data)
    else:
        ref = pdu.tlv_int(Tag.SAR_MSG_REF_NUM)
        total = pdu.tlv_int(Tag.SAR_TOTAL_SEGMENTS)
        seq = pdu.tlv_int(Tag.SAR_SEGMENT_SEQNUM)
        if ref is not None and total is not None and seq is not None:
            concat = Concatenation(ref, total, seq, 16)
    if concat is not None and not 1 <= concat.seq <= concat.total:
        problem = f"part {concat.seq} of {concat.total} is out of range"
    return InboundMessage(
        sender=pdu.source_addr,
        recipient=pdu.destination_addr,
        data_coding=pdu.data_coding,
        text=decode_text(data, pdu.data_coding),
        concatenation=concat,
        problem=problem,
    )
