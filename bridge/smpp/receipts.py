"""Delivery receipts out of deliver_sm / data_sm. Nothing here raises on bad input: what
can be read is returned, with a note of what could not.

A DR is read from its TLVs first (receipted_message_id, message_state, network_error_code:
the aggregator says to correlate and take the status from these); the carrier's receipt
text (``id:... sub:... dlvrd:... submit date:... done date:... stat:... err:...
text:...``, SMPP 3.4 appendix B) is the fallback, read leniently: any order, any case,
extra spaces, missing fields, 10- or 12-digit dates, state names or numbers.

The id comes back as written: correlate with ``bridge.smpp.ids.receipt_id_key``.

``parse_inbound`` tells a receipt from an MO; the MO side (``parse_mo`` and its types) is
in ``bridge.smpp.inbound`` and re-exported here, so one import serves the ingest path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from bridge.smpp import pdu as p
from bridge.smpp.constants import EsmClass, MessageState, Tag
from bridge.smpp.inbound import Concatenation, InboundMessage, join_parts, parse_mo
from bridge.smpp.text import UCS2, alphabet_of
from bridge.smpp.tlv import NetworkErrorCode

# esm_class message types that are receipts: SMSC delivery receipt, SME delivery ack,
# intermediate notification. 0x10 (manual/user ack) carries the user's reply: an MO.
RECEIPT_TYPES = frozenset(
    {
        EsmClass.SMSC_DELIVERY_RECEIPT,
        EsmClass.SME_DELIVERY_ACK,
        EsmClass.INTERMEDIATE_NOTIFICATION,
    }
)

# Split into [before, key with its colon, key, value, key with its colon, key, value...].
_KEYS = re.compile(
    r"(?i)((?<![a-z0-9_])(id|sub|dlvrd|submit[\s_]*date|done[\s_]*date|stat|err|text)\s*:)"
)
_STATES = {
    "DELIVRD": MessageState.DELIVERED, "DELIVERED": MessageState.DELIVERED,
    "EXPIRED": MessageState.EXPIRED, "DELETED": MessageState.DELETED,
    "UNDELIV": MessageState.UNDELIVERABLE, "UNDELIVERABLE": MessageState.UNDELIVERABLE,
    "ACCEPTD": MessageState.ACCEPTED, "ACCEPTED": MessageState.ACCEPTED,
    "UNKNOWN": MessageState.UNKNOWN, "REJECTD": MessageState.REJECTED,
    "REJECTED": MessageState.REJECTED, "ENROUTE": MessageState.ENROUTE,
}  # fmt: skip
FINAL_STATES = frozenset(
    {
        MessageState.DELIVERED,
        MessageState.EXPIRED,
        MessageState.DELETED,
        MessageState.UNDELIVERABLE,
        MessageState.REJECTED,
    }
)
Source = Literal["tlv", "text"]


@dataclass(frozen=True, slots=True)
class Receipt:
    message_id: str | None  # as the SMSC wrote it: normalise with bridge.smpp.ids
    state: MessageState | None
    error_code: str | None  # network_error_code as "type:code", else the text's err:
    submit_date: datetime | None  # the carrier's clock, read as UTC
    done_date: datetime | None
    fields: dict[str, str]  # the receipt text's fields as read, keys lowercase
    problems: tuple[str, ...] = ()
    id_source: Source | None = None
    state_source: Source | None = None
    network_error: NetworkErrorCode | None = None
    submitted: int | None = None  # sub:
    delivered: int | None = None  # dlvrd:
    intermediate: bool = False  # esm_class says intermediate notification
    raw_text: str = ""  # the whole receipt text as decoded

    @property
    def final(self) -> bool:
        """A state after which no other is expected (still, later DRs may come)."""
        return self.state in FINAL_STATES


def is_receipt(pdu: p.DeliverSm | p.DataSm) -> bool:
    """esm_class says receipt / delivery ack / intermediate notification, or the PDU has a
    receipted_message_id TLV."""
    return (pdu.esm_class & EsmClass.MESSAGE_TYPE_MASK) in RECEIPT_TYPES or pdu.tlv(
        Tag.RECEIPTED_MESSAGE_ID
    ) is not None


def parse_receipt_text(text: str) -> dict[str, str]:
    """``{"id": ..., "stat": ..., "submit date": ...}`` from a receipt text; keys lowercase,
    the first of a repeated key wins. ``text:`` runs to the end, except that a field not
    seen before ends it (so an odd order still reads; "id:" inside the text does not)."""
    pieces = _KEYS.split(text)
    fields: dict[str, str] = {}
    open_key: str | None = None
    value = ""
    for i in range(1, len(pieces), 3):
        key = _key(pieces[i + 1])
        if open_key == "text" and (key in fields or key == "text"):
            value += pieces[i] + pieces[i + 2]
            continue
        if open_key is not None and open_key not in fields:
            fields[open_key] = value.strip()
        open_key, value = key, pieces[i + 2]
    if open_key is not None and open_key not in fields:
        fields[open_key] = value.strip()
    return fields


_KEY_NAMES: dict[str, str] = {}


def _key(raw: str) -> str:
    key = _KEY_NAMES.get(raw)
    if key is None:
        key = raw.lower()
        if key.endswith("date"):
            key = "submit date" if key.startswith("submit") else "done date"
        if len(_KEY_NAMES) < 256:  # spellings seen; bounded whatever SMSCs send
            _KEY_NAMES[raw] = key
    return key


def parse_date(value: str | None) -> datetime | None:
    """yyMMddhhmm or yyMMddhhmmss (also yyyyMMddhhmmss), as UTC; None if not a date."""
    if not value or not value.isascii() or not value.isdigit():
        return None
    size = len(value)
    # By hand: strptime costs more than the rest of a receipt's parsing together.
    if size == 14:
        year, value = int(value[:4]), value[4:]
    elif size in (10, 12):
        year, value = 2000 + int(value[:2]), value[2:]
    else:
        return None
    try:
        return datetime(
            year,
            int(value[0:2]),
            int(value[2:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[8:10]) if len(value) == 10 else 0,
            tzinfo=UTC,
        )
    except ValueError:
        return None


def parse_state(value: str | None) -> MessageState | None:
    """A state name (DELIVRD, UNDELIV... or spelled out) or number 1-8, any case."""
    if not value:
        return None
    value = value.strip().upper()
    if value.isascii() and value.isdigit() and len(value) <= 2:
        number = int(value)
        return MessageState(number) if 1 <= number <= 8 else None
    return _STATES.get(value)


def _count(value: str | None) -> int | None:
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 9:
        return None
    return int(value)


def receipt_text(pdu: p.DeliverSm | p.DataSm) -> str:
    """The receipt text. ASCII in practice even under data_coding 0, so read as Latin-1
    (read as GSM, "_" would become "§" and "@" a NUL); UCS-2 is read as UCS-2."""
    data = pdu.payload
    ucs2 = pdu.data_coding == UCS2 or alphabet_of(pdu.data_coding) == UCS2
    return data.decode("utf-16-be", "replace") if ucs2 else data.decode("latin-1")


def parse_receipt(pdu: p.DeliverSm | p.DataSm) -> Receipt:
    problems: list[str] = []
    text = receipt_text(pdu)
    fields = parse_receipt_text(text)

    id_source: Source | None = None
    message_id = pdu.receipted_message_id or None
    if message_id is not None:
        id_source = "tlv"
    elif fields.get("id"):
        message_id, id_source = fields["id"], "text"
        if len(message_id) > 64:
            problems.append("id: is longer than a message id can be (64)")
    else:
        problems.append("no receipted_message_id TLV and no id: in the text")
    if pdu.tlv(Tag.RECEIPTED_MESSAGE_ID) is not None and id_source != "tlv":
        problems.append("receipted_message_id TLV is empty or malformed")

    state: MessageState | None = None
    state_source: Source | None = None
    raw_state = pdu.tlv(Tag.MESSAGE_STATE)
    if raw_state is not None:
        number = pdu.message_state
        if number is not None and 1 <= number <= 8:
            state, state_source = MessageState(number), "tlv"
        else:
            problems.append(f"message_state TLV {raw_state.hex()} is not a known state")
    if state is None:
        state = parse_state(fields.get("stat"))
        if state is not None:
            state_source = "text"
        else:
            problems.append(f"no readable state (stat: {fields.get('stat')!r})")

    network_error = pdu.network_error_code
    error_code = str(network_error) if network_error is not None else fields.get("err") or None

    submit_date = parse_date(fields.get("submit date"))
    done_date = parse_date(fields.get("done date"))
    for key, parsed in (("submit date", submit_date), ("done date", done_date)):
        if key in fields and parsed is None:
            problems.append(f"{key} {fields[key]!r} is not yyMMddhhmm[ss]")
    return Receipt(
        message_id=message_id,
        state=state,
        error_code=error_code,
        submit_date=submit_date,
        done_date=done_date,
        fields=fields,
        problems=tuple(problems),
        id_source=id_source,
        state_source=state_source,
        network_error=network_error,
        submitted=_count(fields.get("sub")),
        delivered=_count(fields.get("dlvrd")),
        intermediate=(pdu.esm_class & EsmClass.MESSAGE_TYPE_MASK)
        == EsmClass.INTERMEDIATE_NOTIFICATION,
        raw_text=text,
    )


def parse_inbound(pdu: p.DeliverSm | p.DataSm) -> Receipt | InboundMessage:
    """A delivery receipt (``is_receipt``) or an MO."""
    return parse_receipt(pdu) if is_receipt(pdu) else parse_mo(pdu)


__all__ = [
    "FINAL_STATES",
    "RECEIPT_TYPES",
    "Concatenation",
    "InboundMessage",
    "Receipt",
    "is_receipt",
    "join_parts",
    "parse_date",
    "parse_inbound",
    "parse_mo",
    "parse_receipt",
    "parse_receipt_text",
    "parse_state",
    "receipt_text",
]
