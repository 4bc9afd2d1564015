"""The typed records of bridge.core.model: one per schema, field for field, and every valid
record round trips through the serde unchanged."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.core.model import (
    RECORD_TYPES,
    Correlation,
    DeadLetter,
    DeliveryState,
    InboundDr,
    InboundKind,
    InboundMo,
    KafkaHeader,
    OutboundRequest,
    OutboundState,
    OutboundStatus,
    PartOutcome,
    PartState,
    Priority,
    RawInbound,
    Record,
    Transport,
    from_epoch_ms,
    to_epoch_ms,
)
from bridge.kafka.serde import SerdeError, default_serde, schemas_dir
from tests.unit.avro_strategies import avro_value

SERDE = default_serde()
IDS = [cls.__name__ for cls in RECORD_TYPES]


def schema_of(cls: type[Record]) -> Any:
    return json.loads((schemas_dir() / f"{cls.SCHEMA_NAME}.avsc").read_text())


def records(cls: type[Record]) -> st.SearchStrategy[Record]:
    """Valid records of ``cls``: every field drawn from its schema."""
    return avro_value(schema_of(cls)).map(cls.from_avro)


def as_lists(value: Any) -> Any:
    """to_avro leaves tuples as tuples (Avro writes them as arrays): compare them as lists."""
    if isinstance(value, tuple | list):
        return [as_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: as_lists(v) for k, v in value.items()}
    return value


def test_there_is_one_record_class_per_schema() -> None:
    assert sorted(cls.SCHEMA_NAME for cls in RECORD_TYPES) == SERDE.names
    assert all(cls.__name__ == cls.SCHEMA_NAME for cls in RECORD_TYPES)


@pytest.mark.parametrize("cls", RECORD_TYPES, ids=IDS)
def test_the_fields_are_the_schema_fields(cls: type[Record]) -> None:
    schema_fields = [f["name"] for f in schema_of(cls)["fields"]]
    assert {f.name for f in dataclasses.fields(cls)} == set(schema_fields)
    # A required field in the schema is required in the class, and the defaults agree.
    for spec in schema_of(cls)["fields"]:
        attribute = next(f for f in dataclasses.fields(cls) if f.name == spec["name"])
        has_default = (
            attribute.default is not dataclasses.MISSING
            or attribute.default_factory is not dataclasses.MISSING
        )
        assert has_default == ("default" in spec), f"{cls.__name__}.{spec['name']}"
        if attribute.default is not dataclasses.MISSING:
            default = attribute.default
            if isinstance(default, bytes):
                default = default.decode("latin-1")  # Avro writes a bytes default as a string
            assert as_lists(default) == spec["default"], f"{cls.__name__}.{spec['name']}"
        elif attribute.default_factory is not dataclasses.MISSING:
            assert as_lists(attribute.default_factory()) == spec["default"]


@pytest.mark.parametrize("cls", RECORD_TYPES, ids=IDS)
def test_to_avro_gives_back_the_dict_from_avro_was_given(cls: type[Record]) -> None:
    @given(avro_value(schema_of(cls)))
    @settings(max_examples=60, deadline=None)
    def inverse(fields: dict[str, Any]) -> None:
        record = cls.from_avro(fields)
        assert as_lists(record.to_avro()) == fields
        assert list(record.to_avro()) == [f["name"] for f in schema_of(cls)["fields"]]

    inverse()


@pytest.mark.parametrize("cls", RECORD_TYPES, ids=IDS)
def test_every_record_type_round_trips_through_the_serde(cls: type[Record]) -> None:
    @given(records(cls))
    @settings(max_examples=80, deadline=None)
    def round_trip(record: Record) -> None:
        data = SERDE.encode_record(record)
        assert SERDE.decode_record(cls, data) == record

    round_trip()


def test_records_built_in_code_round_trip() -> None:
    now = 1_764_000_000_000
    examples: list[Record] = [
        OutboundRequest(
            idempotency_key="order-17",
            sender="ACME",
            recipient="447700900123",
            body="Your code is 1234 €",
            created_at=now,
            priority=Priority.INTERACTIVE,
            attributes={"campaign": "otp"},
        ),
        OutboundRequest(
            idempotency_key="bin-1",
            sender="ACME",
            recipient="447700900123",
            body=b"\x00\x01\xff",
            data_coding=4,
            created_at=now,
        ),
        OutboundStatus(
            request_id="r1",
            idempotency_key="order-17",
            state=OutboundState.AMBIGUOUS,
            transport=Transport.SMPP,
            site="dc3",
            smsc="smc1.dc3",
            bind="smc1.dc3#0",
            parts=(
                PartOutcome(index=1, state=PartState.ACCEPTED, provider_message_id="0A1F"),
                PartOutcome(index=2, state=PartState.AMBIGUOUS, error_code="timeout"),
            ),
            attempts=1,
            received_at=now,
            sent_at=now + 3,
            decided_at=now + 5000,
        ),
        InboundMo(
            event_id="e1",
            sender="447700900123",
            recipient="60006",
            text="STOP",
            body=b"STOP",
            transport=Transport.HTTP,
            provider_message_id="mo-1",
            received_at=now,
        ),
        InboundDr(
            event_id="e2",
            correlated=True,
            request_id="r1",
            idempotency_key="order-17",
            provider_message_id="0a1f",
            message_id_key="smpp:2591",
            state=DeliveryState.DELIVERED,
            final=DeliveryState.DELIVERED.final,
            part_index=1,
            part_count=2,
            transport=Transport.SMPP,
            received_at=now,
            raw={"stat": "DELIVRD"},
        ),
        RawInbound(
            kind=InboundKind.MO,
            transport=Transport.SMPP,
            received_at=now,
            body=b"part one",
            concat_ref=7,
            concat_total=2,
            concat_seq=1,
        ),
        Correlation(
            message_id_key="smpp:2591",
            request_id="r1",
            idempotency_key="order-17",
            part_index=1,
            part_count=2,
            transport=Transport.SMPP,
            sent_at=now,
            traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ),
        DeadLetter(
            source_topic="sms.outbound.requests",
            source_partition=3,
            source_offset=2**40,
            key=b"k",
            value=b"\x00garbage",
            headers=DeadLetter.headers_from_kafka([("traceparent", b"00-..."), ("x", None)]),
            stage="outbound",
            error_class="SerdeError",
            reason="not Avro single-object encoding (no C3 01 marker)",
            failed_at=now,
        ),
    ]
    for record in examples:
        assert SERDE.decode_record(type(record), SERDE.encode_record(record)) == record


def test_a_record_of_another_type_is_refused() -> None:
    data = SERDE.encode_record(
        Correlation(
            message_id_key="k",
            request_id="r",
            idempotency_key="i",
            part_index=1,
            part_count=1,
            transport=Transport.HTTP,
            sent_at=0,
        )
    )
    with pytest.raises(SerdeError, match="expected InboundDr, found Correlation"):
        SERDE.decode_record(InboundDr, data)


def test_helpers() -> None:
    request = OutboundRequest(
        idempotency_key="k", sender="s", recipient="1", body=b"\x01", created_at=0
    )
    assert request.effective_request_id == "k"
    assert request.is_binary
    assert dataclasses.replace(request, request_id="r").effective_request_id == "r"
    raw = RawInbound(kind=InboundKind.DR, transport=Transport.SMPP, received_at=0, state=2)
    assert raw.delivery_state is DeliveryState.DELIVERED
    assert not raw.is_part
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.sender = "x"  # type: ignore[misc]
    assert Transport("smpp") is Transport.SMPP
    assert f"{Transport.SMPP}" == "smpp"  # a member is its Avro symbol
    assert KafkaHeader(key="a").value is None


def test_delivery_states_are_the_smpp_message_states() -> None:
    from bridge.smpp.constants import MessageState

    assert [(s.name, s.code) for s in DeliveryState] == [(m.name, m.value) for m in MessageState]
    assert DeliveryState.from_code(5) is DeliveryState.UNDELIVERABLE
    assert DeliveryState.from_code(0) is DeliveryState.UNKNOWN
    assert DeliveryState.from_code(9) is DeliveryState.UNKNOWN
    assert {s for s in DeliveryState if s.final} == {
        DeliveryState.DELIVERED,
        DeliveryState.EXPIRED,
        DeliveryState.DELETED,
        DeliveryState.UNDELIVERABLE,
        DeliveryState.REJECTED,
    }


def test_enums_are_the_schema_symbols() -> None:
    def symbols(schema: Any, name: str) -> list[str]:
        found: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if node.get("type") == "enum" and node["name"] == name:
                    found.extend(node["symbols"])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(schema)
        return found

    def load(name: str) -> Any:
        return json.loads((schemas_dir() / f"{name}.avsc").read_text())

    assert symbols(load("OutboundRequest"), "Priority") == list(Priority)
    assert symbols(load("OutboundStatus"), "OutboundState") == list(OutboundState)
    assert symbols(load("OutboundStatus"), "PartState") == list(PartState)
    assert symbols(load("InboundDr"), "DeliveryState") == list(DeliveryState)
    assert symbols(load("RawInbound"), "InboundKind") == list(InboundKind)
    for name in ("OutboundStatus", "InboundMo", "InboundDr", "RawInbound", "Correlation"):
        assert symbols(load(name), "Transport") == list(Transport), name


@given(st.integers(-(2**40), 2**45))
def test_epoch_millis_convert_both_ways(millis: int) -> None:
    assert to_epoch_ms(from_epoch_ms(millis)) == millis


def test_epoch_millis_of_datetimes() -> None:
    moment = datetime(2026, 11, 25, 7, 49, 18, 123456, tzinfo=UTC)
    assert to_epoch_ms(moment) == 1_795_592_958_123
    assert to_epoch_ms(moment.replace(tzinfo=None)) == 1_795_592_958_123  # naive: UTC
    assert to_epoch_ms(moment.astimezone(timezone(timedelta(hours=-5)))) == 1_795_592_958_123
    assert from_epoch_ms(1_795_592_958_123) == moment.replace(microsecond=123000)


def test_the_ingest_records_fit_the_raw_inbound_contract() -> None:
    """What bridge.inbound.ingest writes for a callback reads back as a RawInbound."""
    from bridge.http.receiver import CallbackEvent
    from bridge.inbound.ingest import callback_record

    for kind, fields in (
        ("DR", {"type": "receipt", "message_state": "2", "result_code": "0"}),
        ("MO", {"type": "MO", "phone_number": "447700900123", "shortcode": "6", "message": "ü"}),
    ):
        event = CallbackEvent(kind, "id-1", fields, "10.0.0.1", "dc3", received_at=1.5)
        _, record = callback_record(event)
        raw = SERDE.decode_record(RawInbound, SERDE.encode("RawInbound", record))
        assert (raw.kind, raw.transport, raw.site, raw.received_at) == (kind, "http", "dc3", 1500)
