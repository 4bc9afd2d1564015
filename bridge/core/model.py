"""The records on the bridge's topics, as typed values.

One frozen dataclass per Avro schema in ``schemas/`` (same name, same field names, same
meaning: the schema's ``doc`` strings are the reference). ``to_avro()`` gives the dict the
serde writes; ``from_avro()`` builds the record from the dict the serde read. Encoding to
bytes is ``bridge.kafka.serde``'s job: nothing here does I/O.

Conventions:

- timestamps are ``EpochMillis``: integer milliseconds since 1970-01-01 UTC
  (``to_epoch_ms``/``from_epoch_ms`` convert from and to ``datetime``);
- part numbers are 1-based, as in the concatenation headers;
- enums are ``StrEnum``: a member *is* its Avro symbol, so it compares equal to the string;
- construct with keywords: ``OutboundRequest(idempotency_key=..., sender=..., ...)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Protocol, Self, TypeVar

EpochMillis = int
"""Milliseconds since 1970-01-01 UTC (Avro ``timestamp-millis``)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def to_epoch_ms(moment: datetime) -> EpochMillis:
    """A timezone-aware datetime as epoch milliseconds (naive ones are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _ONE_MS


def from_epoch_ms(millis: EpochMillis) -> datetime:
    return _EPOCH + millis * _ONE_MS


# --- Enums ------------------------------------------------------------------------------


class Transport(StrEnum):
    """How a message went to, or came from, the provider."""

    SMPP = "smpp"
    HTTP = "http"


class Priority(StrEnum):
    """The aggregator's priority classes, lowest first."""

    BULK_LOW = "BULK_LOW"
    BULK = "BULK"
    INTERACTIVE_LOW = "INTERACTIVE_LOW"
    INTERACTIVE = "INTERACTIVE"


class OutboundState(StrEnum):
    """The outcome of a request (see ``OutboundStatus.avsc`` for each one's meaning)."""

    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"
    AMBIGUOUS = "AMBIGUOUS"  # may have been sent: never hidden as FAILED or ACCEPTED
    DUPLICATE = "DUPLICATE"
    EXPIRED = "EXPIRED"
    INVALID = "INVALID"  # refused by the bridge before sending


class PartState(StrEnum):
    """The outcome of one part of a request."""

    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"
    AMBIGUOUS = "AMBIGUOUS"
    NOT_SENT = "NOT_SENT"  # never submitted, because an earlier part failed


class DeliveryState(StrEnum):
    """A DR's state: the SMPP 3.4 ``message_state`` names, codes 1..8 (the HTTP callbacks'
    ``message_state`` uses the same codes)."""

    ENROUTE = "ENROUTE"
    DELIVERED = "DELIVERED"
    EXPIRED = "EXPIRED"
    DELETED = "DELETED"
    UNDELIVERABLE = "UNDELIVERABLE"
    ACCEPTED = "ACCEPTED"
    UNKNOWN = "UNKNOWN"
    REJECTED = "REJECTED"

    @property
    def code(self) -> int:
        """The SMPP message_state value (1 ENROUTE ... 8 REJECTED)."""
        return _STATE_CODES[self]

    @property
    def final(self) -> bool:
        """No other state is expected after this one (later DRs may still come)."""
        return self in _FINAL_STATES

    @classmethod
    def from_code(cls, code: int) -> DeliveryState:
        """The state of an SMPP/HTTP message_state code; UNKNOWN for codes outside 1..8."""
        return _STATES_BY_CODE.get(code, cls.UNKNOWN)


_STATE_CODES = {state: code for code, state in enumerate(DeliveryState, start=1)}
_STATES_BY_CODE = {code: state for state, code in _STATE_CODES.items()}
_FINAL_STATES = frozenset(
    {
        DeliveryState.DELIVERED,
        DeliveryState.EXPIRED,
        DeliveryState.DELETED,
        DeliveryState.UNDELIVERABLE,
        DeliveryState.REJECTED,
    }
)


class InboundKind(StrEnum):
    MO = "MO"  # a message, or one part of one
    DR = "DR"  # a delivery receipt


E = TypeVar("E", bound=StrEnum)


def _by_symbol(kind: type[E]) -> dict[str, E]:
    return {member.value: member for member in kind}


# Dict lookups: calling an Enum class costs about a microsecond, a dict a few tens of ns,
# and from_avro runs for every record read.
_PRIORITIES = _by_symbol(Priority)
_OUTBOUND_STATES = _by_symbol(OutboundState)
_PART_STATES = _by_symbol(PartState)
_DELIVERY_STATES = _by_symbol(DeliveryState)
_INBOUND_KINDS = _by_symbol(InboundKind)
_TRANSPORTS = _by_symbol(Transport)


def _optional(symbols: dict[str, E], value: str | None) -> E | None:
    return None if value is None else symbols[value]


class AvroRecord(Protocol):
    """What the serde needs of a record class (every top-level class below has it)."""

    SCHEMA_NAME: ClassVar[str]

    def to_avro(self) -> dict[str, Any]: ...

    @classmethod
    def from_avro(cls, data: Mapping[str, Any]) -> Self: ...


# --- Outbound (MT) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundRequest:
    """An SMS to send. ``body`` is text (``str``) or binary user data (``bytes``)."""

    SCHEMA_NAME: ClassVar[str] = "OutboundRequest"

    idempotency_key: str
    sender: str
    recipient: str
    body: str | bytes
    created_at: EpochMillis
    request_id: str | None = None
    data_coding: int | None = None
    receipt_wanted: bool = True
    expires_at: EpochMillis | None = None
    validity_seconds: int | None = None
    priority: Priority | None = None
    route_hint: str | None = None
    app_id: str | None = None
    conversation_id: str | None = None
    tenant: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)

    @property
    def effective_request_id(self) -> str:
        """``request_id``, or the idempotency key when the producer gave none."""
        return self.request_id if self.request_id is not None else self.idempotency_key

    @property
    def is_binary(self) -> bool:
        return isinstance(self.body, bytes)

    def to_avro(self) -> dict[str, Any]:
        return {
            "idempotency_key": self.idempotency_key,
            "request_id": self.request_id,
            "sender": self.sender,
            "recipient": self.recipient,
            "body": self.body,
            "data_coding": self.data_coding,
            "receipt_wanted": self.receipt_wanted,
            "expires_at": self.expires_at,
            "validity_seconds": self.validity_seconds,
            "priority": self.priority,
            "route_hint": self.route_hint,
            "app_id": self.app_id,
            "conversation_id": self.conversation_id,
            "tenant": self.tenant,
            "created_at": self.created_at,
            "attributes": self.attributes,
        }

    @classmethod
    def from_avro(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            idempotency_key=data["idempotency_key"],
            request_id=data["request_id"],
            sender=data["sender"],
            recipient=data["recipient"],
            body=data["body"],
            data_coding=data["data_coding"],
            receipt_wanted=data["receipt_wanted"],
            expires_at=data["expires_at"],
            validity_seconds=data["validity_seconds"],
            priority=_optional(_PRIORITIES, data["priority"]),
            route_hint=data["route_hint"],
            app_id=data["app_id"],
            conversation_id=data["conversation_id"],
            tenant=data["tenant"],
            created_at=data["created_at"],
            attributes=data["attributes"],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PartOutcome:
    """What became of one part of a request (part of ``OutboundStatus``)."""

    index: int  # 1-based
    state: PartState
    provider_message_id: str | None = None
    error_code: str | None = None

    def to_avro(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "state": self.state,
            "provider_message_id": self.provider_message_id,
            "error_code": self.error_code,
        }

    @classmethod
    def from_avro(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            index=data["index"],
            state=_PART_STATES[data["state"]],
            provider_message_id=data["provider_message_id"],
            error_code=data["error_code"],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundStatus:
    """The outcome of one request (or one DUPLICATE copy of it)."""

    SCHEMA_NAME: ClassVar[str] = "OutboundStatus"

    request_id: str
    idempotency_key: str
    state: OutboundState
    received_at: EpochMillis
    decided_at: EpochMillis
    transport: Transport | None = None
    site: str | None = None
    smsc: str | None = None
    bind: str | None = None
    parts: tuple[PartOutcome, ...] = ()
    error_code: str | None = None
    reason: str | None = None
    attempts: int = 0
    duplicate_of: str | None = None
    sent_at: EpochMillis | None = None
    tenant: str | None = None
    app_id: str | None = None
    conversation_id: str | None = None

    def to_avro(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "idempotency_key": self.idempotency_key,
            "state": self.state,
            "transport": self.transport,
            "site": self.site,
            "smsc": self.smsc,
            "bind": self.bind,
            "parts": [part.to_avro() for part in self.parts],
            "error_code": self.error_code,
            "reason": self.reason,
            "attempts": self.attempts,
            "duplicate_of": self.duplicate_of,
            "received_at": self.received_at,
            "sent_at": self.sent_at,
            "decided_at": self.decided_at,
            "tenant": self.tenant,
            "app_id": self.app_id,
            "conversation_id": self.conversation_id,
        }

    @classmethod
    def from_avro(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            request_id=data["request_id"],
            idempotency_key=data["idempotency_key"],
            state=_OUTBOUND_STATES[data["state"]],
            transport=_optional(_TRANSPORTS, data["transport"]),
            site=data["site"],
            smsc=data["smsc"],
            bind=data["bind"],
            parts=tuple(PartOutcome.from_avro(part) for part in data["parts"]),
            error_code=data["error_code"],
            reason=data["reason"],
            attempts=data["attempts"],
            duplicate_of=data["duplicate_of"],
            received_at=data["received_at"],
            sent_at=data["sent_at"],
            decided_at=data["decided_at"],
            tenant=data["tenant"],
            app_id=data["app_id"],
            conversation_id=data["conversation_id"],
        )


# --- Inbound (MO and DR) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMo:
    """A mobile-originated message, deduplicated and reassembled."""

    SCHEMA_NAME: ClassVar[str] = "InboundMo"

    event_id: str
    sender: str
    recipient: str
    body: bytes
    transport: Transport
    received_at: EpochMillis
    text: str | None = None
    data_coding: int = 0
    decode_error: str | None = None
    part_count: int = 1
    incomplete: bool = False
    missing_parts: tuple[int, ...] = ()
    provider_message_id: str | None = None
    site: str | None = None
    smsc: str | None = None
    bind: str | None = None
    carrier: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)

    def to_avro(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "sender": self.sender,
            "recipient": self.recipient,
            "text": self.text,
            "body": self.body,
            "data_coding": self.data_coding,
            "decode_error": self.decode_error,
            "part_count": self.part_count,
            "incomplete": self.incomplete,
            "missing_parts": self.missing_parts,
            "provider_message_id": self.provider_message_id,
            "transport": self.transport,
            "site": self.site,
            "smsc": self.smsc,
            "bind": self.bind,
            "carrier": self.carrier,
            "received_at": self.received_at,
            "attributes": self.attributes,
        }

    @classmethod
    def from_avro(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            event_id=data["event_id"],
            sender=data["sender"],
            recipient=data["recipient"],
            text=data["text"],
            body=data["body"],
            data_coding=data["data_coding"],
            decode_error=data["decode_error"],
            part_count=data["part_count"],
            incomplete=data["incomplete"],
            missing_parts=tuple(data["missing_parts"]),
            provider_message_id=data["provider_message_id"],
            transport=_TRANSPORTS[data["transport"]],
            site=data["site"],
            smsc=data["smsc"],
            bind=data["bind"],
            carrier=data["carrier"],
            received_at=data["received_at"],
            attributes=data["attributes"],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundDr:
    """A delivery receipt; ``correlated`` says whether its request was found."""

    SCHEMA_NAME: ClassVar[str] = "InboundDr"

    event_id: str
    correlated: bool
    state: DeliveryState
    final: bool
    transport: Transport
    received_at: EpochMillis
    request_id: str | None = None
    idempotency_key: str | None = None
    provider_message_id: str | None = None
    message_id_key: str | None = None
    error_code: str | None = None
    part_index: int | None = None
    part_count: int | None = None
    app_id: str | None = None
    conversation_id: str | None = None
    tenant: str | None = None
    site: str | None = None
    smsc: str | None = None
    bind: str | None = None
    done_at: EpochMillis | None = None
    raw: Mapping[str, str] = field(default_factory=dict)

    def to_avro(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "correlated": self.correlated,
            "request_id": self.request_id,
            "idempotency_key": self.idempotency_key,
            "provider_message_id": self.provider_message_id,
            "message_id_key": self.message_id_key,
            "state": self.state,
            "final": self.final,
            "error_code": self.error_code,
            "part_index": self.part_index,
            "part_count": self.part_count,
            "app_id": self.app_id,
            "conversation_id": self.conversation_id,
            "tenant": self.tenant,
            "transport": self.transport,
            "site": self.site,
            "smsc": self.smsc,
            "bind": self.bind,
            "received_at": self.received_at,
            "done_at": self.done_at,
            "raw": self.raw,
        }

    @classmethod
    def from_avro(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            event_id=data["event_id"],
            correlated=data["correlated"],
            request_id=data["request_id"],
            idempotency_key=data["idempotency_key"],
            provider_message_id=data["provider_message_id"],
            message_id_key=data["message_id_key"],
            state=_DELIVERY_STATES[data["state"]],
            final=data["final"],
            error_code=data["error_code"],
            part_index=data["part_index"],
            part_count=data["part_count"],
            app_id=data["app_id"],
            conversation_id=data["conversation_id"],
            tenant=data["tenant"],
            transport=_TRANSPORTS[data["transport"]],
            site=data["site"],
            smsc=data["smsc"],
            bind=data["bind"],
            received_at=data["received_at"],
            done_at=data["done_at"],
            raw=data["raw"],
        )


# --- Internal topics --------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RawInbound:
    """An MO, MO part or DR as ingested, before dedup. ``state`` stays the raw
    message_state code (see ``delivery_state``) so that nothing is lost before dedup."""

    SCHEMA_NAME: ClassVar[str] = "RawInbound"

    kind: InboundKind
    transport: Transport
    received_at: EpochMillis
    site: str | None = None
    smsc: str | None = None
    bind: str | None = None
    provider_message_id: str | None = None
    message_id_key: str | None = None
    state: int | None = None
    error_code: str | None = None
    sender: str | None = None
    recipient: str | None = None
    data_coding: int = 0
    body: bytes = b""
    concat_ref: int | None = None
    concat_total: int | None = None
    concat_seq: int | None = None
    done_at: EpochMillis | None = None
    fields: Mapping[str, str] = field(default_factory=dict)

    @property
    def delivery_state(self) -> DeliveryState | None:
        return None if self.state is None else DeliveryState.from_code(self.state)

    @property
    def is_part(self) -> bool:
        """One part of a concatenated MO."""
        return self.concat_total is not None

    def to_avro(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "transport": self.transport,
            "site": self.site,
            "smsc": self.smsc,
            "bind": self.bind,
            "received_at": self.received_at,
            "provider_message_id": self.provider_message_id,
            "message_id_key": self.message_id_key,
            "state": self.state,
            "error_code": self.error_code,
            "sender": self.sender,
            "recipient": self.recipient,
            "data_coding": self.data_coding,
            "body": self.body,
            "concat_ref": self.concat_ref,
            "concat_total": self.concat_total,
            "concat_seq": self.concat_seq,
            "done_at": self.done_at,
            "fields": self.fields,
        }

    @classmethod
    def from_avro(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            kind=_INBOUND_KINDS[data["kind"]],
            transport=_TRANSPORTS[data["transport"]],
            site=data["site"],
            smsc=data["smsc"],
            bind=data["bind"],
            received_at=data["received_at"],
            provider_message_id=data["provider_message_id"],
            message_id_key=data["message_id_key"],
            state=data["state"],
            error_code=data["error_code"],
            sender=data["sender"],
            recipient=data["recipient"],
            data_coding=data["data_coding"],
            body=data["body"],
            concat_ref=data["concat_ref"],
            concat_total=data["concat_total"],
            concat_seq=data["concat_seq"],
            done_at=data["done_at"],
            fields=data["fields"],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Correlation:
    """The provider message id of one sent part, and the request it belongs to."""

    SCHEMA_NAME: ClassVar[str] = "Correlation"

    message_id_key: str
    request_id: str
    idempotency_key: str
    part_index: int  # 1-based
    part_count: int
    transport: Transport
    sent_at: EpochMillis
    provider_message_id: str | None = None
    app_id: str | None = None
    conversation_id: str | None = None
    tenant: str | None = None
    site: str | None = None
    smsc: str | None = None
    bind: str | None = None
    traceparent: str | None = None

    def to_avro(self) -> dict[str, Any]:
        return {
            "message_id_key": self.message_id_key,
            "provider_message_id": self.provider_message_id,
            "request_id": self.request_id,
            "idempotency_key": self.idempotency_key,
            "part_index": self.part_index,
            "part_count": self.part_count,
            "app_id": self.app_id,
            "conversation_id": self.conversation_id,
            "tenant": self.tenant,
            "transport": self.transport,
            "site": self.site,
            "smsc": self.smsc,
            "bind": self.bind,
            "sent_at": self.sent_at,
            "traceparent": self.traceparent,
        }

    @classmethod
    def from_avro(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            message_id_key=data["message_id_key"],
            provider_message_id=data["provider_message_id"],
            request_id=data["request_id"],
            idempotency_key=data["idempotency_key"],
            part_index=data["part_index"],
            part_count=data["part_count"],
            app_id=data["app_id"],
            conversation_id=data["conversation_id"],
            tenant=data["tenant"],
            transport=_TRANSPORTS[data["transport"]],
            site=data["site"],
            smsc=data["smsc"],
            bind=data["bind"],
            sent_at=data["sent_at"],
            traceparent=data["traceparent"],
        )


# --- Dead letters -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class KafkaHeader:
    """One Kafka record header (part of ``DeadLetter``)."""

    key: str
    value: bytes | None = None

    def to_avro(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value}

    @classmethod
    def from_avro(cls, data: Mapping[str, Any]) -> Self:
        return cls(key=data["key"], value=data["value"])


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """A record the bridge could not process, kept whole, with why."""

    SCHEMA_NAME: ClassVar[str] = "DeadLetter"

    source_topic: str
    source_partition: int
    source_offset: int
    stage: str
    error_class: str
    reason: str
    failed_at: EpochMillis
    key: bytes | None = None
    value: bytes | None = None
    headers: tuple[KafkaHeader, ...] = ()

    @staticmethod
    def headers_from_kafka(
        headers: Iterable[tuple[str, bytes | None]] | None,
    ) -> tuple[KafkaHeader, ...]:
        """aiokafka's ``record.headers`` as ``KafkaHeader``s."""
        return tuple(KafkaHeader(key=k, value=v) for k, v in headers or ())

    def to_avro(self) -> dict[str, Any]:
        return {
            "source_topic": self.source_topic,
            "source_partition": self.source_partition,
            "source_offset": self.source_offset,
            "key": self.key,
            "value": self.value,
            "headers": [header.to_avro() for header in self.headers],
            "stage": self.stage,
            "error_class": self.error_class,
            "reason": self.reason,
            "failed_at": self.failed_at,
        }

    @classmethod
    def from_avro(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            source_topic=data["source_topic"],
            source_partition=data["source_partition"],
            source_offset=data["source_offset"],
            key=data["key"],
            value=data["value"],
            headers=tuple(KafkaHeader.from_avro(h) for h in data["headers"]),
            stage=data["stage"],
            error_class=data["error_class"],
            reason=data["reason"],
            failed_at=data["failed_at"],
        )


Record = (
    OutboundRequest | OutboundStatus | InboundMo | InboundDr | RawInbound | Correlation | DeadLetter
)
"""Any top-level record."""

RECORD_TYPES: tuple[type[Record], ...] = (
    OutboundRequest,
    OutboundStatus,
    InboundMo,
    InboundDr,
    RawInbound,
    Correlation,
    DeadLetter,
)
"""Every top-level record class, one per schema in ``schemas/``."""
