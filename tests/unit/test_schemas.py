"""The topic contracts: every record type round trips, old records stay readable, bad bytes
give SerdeError and nothing else."""

from __future__ import annotations

import contextlib
import json
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.kafka.serde import MARKER, Serde, SerdeError, default_serde, schemas_dir


def crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO written out from the Avro specification (Rabin fingerprint)."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def test_fingerprint_is_the_spec_crc64() -> None:
    serde = default_serde()
    data = serde.encode(
        "Correlation",
        {
            "message_id_key": "1",
            "request_id": "r",
            "idempotency_key": "k",
            "part_index": 1,
            "part_count": 1,
            "transport": "smpp",
            "sent_at": 0,
        },
    )
    schema = json.loads((schemas_dir() / "Correlation.avsc").read_text())
    from fastavro.schema import parse_schema, to_parsing_canonical_form

    canonical = to_parsing_canonical_form(parse_schema(schema)).encode()
    assert struct.unpack("<Q", data[2:10])[0] == crc64_avro(canonical)
    # And the algorithm itself, on the spec's simplest schema:
    assert crc64_avro(b'"int"') == int.from_bytes(bytes.fromhex("8f5c393f1ad57572"), "little")


def schema_strategy(schema: Any, names: dict[str, Any]) -> st.SearchStrategy[Any]:
    if isinstance(schema, list):
        return st.one_of(*(schema_strategy(s, names) for s in schema))
    if isinstance(schema, str):
        simple: dict[str, st.SearchStrategy[Any]] = {
            "null": st.none(),
            "string": st.text(max_size=20),
            "int": st.integers(-(2**31), 2**31 - 1),
            "long": st.integers(-(2**40), 2**40),
            "boolean": st.booleans(),
            "bytes": st.binary(max_size=20),
        }
        return simple[schema] if schema in simple else schema_strategy(names[schema], names)
    kind = schema["type"]
    if kind == "record":
        names[schema["name"]] = schema
        return st.fixed_dictionaries(
            {f["name"]: schema_strategy(f["type"], names) for f in schema["fields"]}
        )
    if kind == "enum":
        names[schema["name"]] = schema
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(schema_strategy(schema["items"], names), max_size=3)
    if kind == "map":
        return st.dictionaries(
            st.text(max_size=5), schema_strategy(schema["values"], names), max_size=3
        )
    if kind == "long" and schema.get("logicalType") == "timestamp-millis":
        return st.integers(0, 4_000_000_000_000)
    return schema_strategy(kind, names)


def normalise(value: Any) -> Any:
    """timestamp-millis come back as datetimes: compare them as millis."""
    from datetime import datetime

    if isinstance(value, datetime):
        return round(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


NAMES = default_serde().names


@pytest.mark.parametrize("name", NAMES)
def test_every_record_type_round_trips(name: str) -> None:
    schema = json.loads((schemas_dir() / f"{name}.avsc").read_text())
    serde = default_serde()

    @given(schema_strategy(schema, {}))
    @settings(max_examples=60, deadline=None)
    def round_trip(record: dict[str, Any]) -> None:
        assert normalise(serde.decode(name, serde.encode(name, record))) == record

    round_trip()


def test_an_older_record_stays_readable_after_an_optional_field_is_added(tmp_path: Path) -> None:
    directory = tmp_path / "schemas"
    shutil.copytree(schemas_dir(), directory)
    current = json.loads((directory / "OutboundRequest.avsc").read_text())
    older = {
        **current,
        "fields": [f for f in current["fields"] if f["name"] not in ("tenant", "route_hint")],
    }
    old_only = tmp_path / "old"
    (old_only / "history").mkdir(parents=True)
    (old_only / "OutboundRequest.avsc").write_text(json.dumps(older))
    written = Serde(old_only).encode(
        "OutboundRequest",
        {
            "idempotency_key": "k1",
            "sender": "ACME",
            "recipient": "447700900123",
            "text": "hi",
            "created_at": 1,
        },
    )
    # A reader that does not know the old version refuses it plainly...
    with pytest.raises(SerdeError, match="unknown writer schema"):
        Serde(directory).decode("OutboundRequest", written)
    # ...and one that keeps it in history/ reads it, the new fields at their defaults.
    (directory / "history" / "OutboundRequest.v0.avsc").write_text(json.dumps(older))
    record = Serde(directory).decode("OutboundRequest", written)
    assert (record["idempotency_key"], record["text"], record["tenant"], record["route_hint"]) == (
        "k1",
        "hi",
        None,
        None,
    )


def test_bad_bytes_give_serde_errors() -> None:
    serde = default_serde()
    good = serde.encode(
        "OutboundRequest",
        {"idempotency_key": "k", "sender": "s", "recipient": "1", "created_at": 1},
    )
    with pytest.raises(SerdeError, match="no C3 01 marker"):
        serde.decode("OutboundRequest", b"\x00\x01" + good[2:])
    with pytest.raises(SerdeError, match="unknown writer schema"):
        serde.decode("OutboundRequest", MARKER + b"\x00" * 8 + good[10:])
    with pytest.raises(SerdeError, match="corrupt body"):
        serde.decode("OutboundRequest", good[:14])
    with pytest.raises(SerdeError, match="where OutboundStatus was expected"):
        serde.decode("OutboundStatus", good)
    with pytest.raises(SerdeError, match="trailing bytes"):
        serde.decode("OutboundRequest", good + b"\x00")
    with pytest.raises(SerdeError, match="does not fit the schema"):
        serde.encode("OutboundRequest", {"idempotency_key": 5})


@given(st.binary(max_size=200), st.sampled_from(NAMES))
@settings(max_examples=300)
def test_random_bytes_only_raise_serde_errors(data: bytes, name: str) -> None:
    serde = default_serde()
    for candidate in (
        data,
        MARKER + data,
        serde.encode(
            "OutboundRequest",
            {"idempotency_key": "k", "sender": "s", "recipient": "1", "created_at": 1},
        )[:10]
        + data,
    ):
        with contextlib.suppress(SerdeError):
            serde.decode(name, candidate)
