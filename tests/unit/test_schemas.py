"""The topic contracts and the serde: the fingerprint is the spec's CRC-64-AVRO, every schema
round trips, every released version stays readable, bad bytes give SerdeError only."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro
import pytest
from fastavro.schema import to_parsing_canonical_form
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.core.model import OutboundRequest
from bridge.kafka.serde import (
    MARKER,
    SchemaError,
    Serde,
    SerdeError,
    default_serde,
    fingerprint_of,
    schemas_dir,
)
from tests.unit.avro_strategies import avro_value

SERDE = default_serde()
NAMES = SERDE.names
HISTORY = sorted((schemas_dir() / "history").glob("*.avsc"))


def load(path: Path) -> Any:
    return json.loads(path.read_text())


# --- The fingerprint --------------------------------------------------------------------


def crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO (the Rabin fingerprint) as the Avro specification writes it out."""
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


def signed(value: int) -> int:
    """As Java's long: the spec's test data (share/test/data/schema-tests.txt) is signed."""
    return value - 2**64 if value >= 2**63 else value


@pytest.mark.parametrize(
    ("canonical", "expected"),
    [
        ('"null"', 7195948357588979594),
        ('"int"', 8247732601305521295),
        ('"string"', -8142146995180207161),
        ('{"name":"foo","type":"record","fields":[]}', -4824392279771201922),
    ],
)
def test_crc64_avro_matches_the_spec_test_data(canonical: str, expected: int) -> None:
    assert signed(crc64_avro(canonical.encode())) == expected


def test_fingerprint_is_the_spec_one_in_wire_order() -> None:
    # The single-object header of "int", from the Avro project's own tests.
    assert MARKER + fingerprint_of("int") == bytes.fromhex("c3018f5c393f1ad57572")
    assert fingerprint_of({"type": "record", "name": "foo", "fields": []}) == (
        crc64_avro(b'{"name":"foo","type":"record","fields":[]}').to_bytes(8, "little")
    )


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
@settings(max_examples=5, deadline=None)
def test_every_record_carries_its_schema_fingerprint(name: str, data: st.DataObject) -> None:
    schema = load(schemas_dir() / f"{name}.avsc")
    canonical = to_parsing_canonical_form(fastavro.parse_schema(schema)).encode()
    assert "logicalType" not in canonical.decode()  # the canonical form drops them
    header = SERDE.encode(name, data.draw(avro_value(schema)))[:10]
    assert header == MARKER + crc64_avro(canonical).to_bytes(8, "little")


# --- Round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_every_record_type_round_trips_as_dicts(name: str) -> None:
    @given(avro_value(load(schemas_dir() / f"{name}.avsc")))
    @settings(max_examples=80, deadline=None)
    def round_trip(record: dict[str, Any]) -> None:
        assert SERDE.decode(name, SERDE.encode(name, record)) == record

    round_trip()


def test_optional_fields_may_be_left_out_of_a_dict() -> None:
    record = SERDE.decode(
        "OutboundRequest",
        SERDE.encode(
            "OutboundRequest",
            {
                "idempotency_key": "k",
                "sender": "S",
                "recipient": "1",
                "body": "hi",
                "created_at": 5,
            },
        ),
    )
    assert record["receipt_wanted"] is True
    assert record["attributes"] == {}
    assert record["tenant"] is None
    assert record["created_at"] == 5  # epoch millis both ways, not a datetime


# --- Evolution --------------------------------------------------------------------------


def history_of(name: str) -> list[tuple[int, Any]]:
    versions = [
        (int(p.name.split(".")[1][1:]), load(p)) for p in HISTORY if p.name.startswith(f"{name}.v")
    ]
    return sorted(versions, key=lambda v: v[0])


PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def evolution_problems(old: Any, new: Any, where: str) -> list[str]:
    """Why records written with ``old`` might not read as ``new`` under the rule: only add
    fields with defaults, enum symbols and union branches at the end; change nothing else."""
    if isinstance(old, list) or isinstance(new, list):
        if not (isinstance(old, list) and isinstance(new, list)) or len(new) < len(old):
            return [f"{where}: union branches removed or changed"]
        return [
            p for i, o in enumerate(old) for p in evolution_problems(o, new[i], f"{where}[{i}]")
        ]
    old_kind = old if isinstance(old, str) else old["type"]
    new_kind = new if isinstance(new, str) else new["type"]
    if isinstance(old, str) or isinstance(new, str) or old_kind in PRIMITIVES:
        # A primitive (maybe with a logical type) or a reference to a named type.
        return [] if simple(old) == simple(new) else [f"{where}: type changed"]
    if old_kind != new_kind:
        return [f"{where}: type changed"]
    if old_kind == "record":
        if old["name"] != new["name"]:
            return [f"{where}: record renamed"]
        new_fields = {f["name"]: f for f in new["fields"]}
        problems = []
        for field in old["fields"]:
            at = f"{where}.{field['name']}"
            if field["name"] not in new_fields:
                problems.append(f"{at}: removed or renamed")
            else:
                problems += evolution_problems(field["type"], new_fields[field["name"]]["type"], at)
        old_names = {f["name"] for f in old["fields"]}
        problems += [
            f"{where}.{f['name']}: added without a default"
            for f in new["fields"]
            if f["name"] not in old_names and "default" not in f
        ]
        return problems
    if old_kind == "enum":
        same_start = new["symbols"][: len(old["symbols"])] == old["symbols"]
        return [] if same_start and old["name"] == new["name"] else [f"{where}: symbols changed"]
    if old_kind == "array":
        return evolution_problems(old["items"], new["items"], f"{where}[]")
    if old_kind == "map":
        return evolution_problems(old["values"], new["values"], f"{where}{{}}")
    return [f"{where}: {old_kind} is not a type these schemas use"]


def simple(schema: Any) -> tuple[Any, Any]:
    if isinstance(schema, str):
        return schema, None
    return schema["type"], schema.get("logicalType")


def test_the_evolution_check_catches_what_breaks_old_records() -> None:
    base = load(schemas_dir() / "OutboundStatus.avsc")
    assert evolution_problems(base, base, "S") == []

    def changed(edit: Callable[[Any], object]) -> Any:
        schema = json.loads(json.dumps(base))
        edit(schema)
        return schema

    def part(schema: Any) -> Any:
        return schema["fields"][7]["type"]["items"]  # PartOutcome

    allowed: list[Callable[[Any], object]] = [
        lambda s: s["fields"].append({"name": "x", "type": ["null", "int"], "default": None}),
        lambda s: part(s)["fields"].append({"name": "x", "type": "int", "default": 0}),
        lambda s: s["fields"][2]["type"]["symbols"].append("PARKED"),
        lambda s: s["fields"][3]["type"].append("string"),
    ]
    breaking: list[Callable[[Any], object]] = [
        lambda s: s["fields"].pop(0),
        lambda s: s["fields"].append({"name": "x", "type": "int"}),
        lambda s: part(s)["fields"].append({"name": "x", "type": "int"}),
        lambda s: s["fields"][10].update(type="long"),
        lambda s: s["fields"][2]["type"]["symbols"].insert(0, "PARKED"),
        lambda s: s["fields"][3].update(type=["null", "string"]),
        lambda s: s["fields"][14].update(type="long"),  # timestamp-millis dropped
    ]
    for edit in allowed:
        assert evolution_problems(base, changed(edit), "S") == []
    for edit in breaking:
        assert evolution_problems(base, changed(edit), "S") != []


@pytest.mark.parametrize("name", NAMES)
def test_released_versions_only_ever_gain_optional_fields(name: str) -> None:
    """history/<Name>.v1, v2, ... each reads as the next; the current file is one of them
    (the newest, or the one before while the newest is being rolled out to readers)."""
    versions = history_of(name)
    assert [v for v, _ in versions] == list(range(1, len(versions) + 1)), "versions 1, 2, ..."
    for (v, old), (_, new) in itertools.pairwise(versions):
        assert evolution_problems(old, new, f"{name}.v{v + 1}") == []
    assert SERDE.current(name).version is not None, (
        f"{name}.avsc differs from every history/{name}.v<N>.avsc: copy it as the next version"
    )


@pytest.mark.parametrize("path", HISTORY, ids=[p.name for p in HISTORY])
def test_records_of_every_released_version_decode_as_current(path: Path) -> None:
    old = load(path)
    name = path.name.split(".")[0]
    parsed = fastavro.parse_schema(old)

    @given(avro_value(old))
    @settings(max_examples=30, deadline=None)
    def readable(record: dict[str, Any]) -> None:
        body = io.BytesIO()
        fastavro.schemaless_writer(body, parsed, record)
        data = MARKER + fingerprint_of(old) + body.getvalue()
        decoded = SERDE.decode(name, data)
        assert {k: decoded[k] for k in record} == record

    readable()


def older_outbound_request() -> dict[str, Any]:
    """OutboundRequest as it might have been before tenant, route_hint and validity."""
    current = load(schemas_dir() / "OutboundRequest.avsc")
    dropped = ("tenant", "route_hint", "validity_seconds")
    return {**current, "fields": [f for f in current["fields"] if f["name"] not in dropped]}


def release(directory: Path, name: str, current: Any, history: dict[int, Any]) -> Path:
    """A schema directory as a release would ship it: the current schema and its history."""
    (directory / "history").mkdir(parents=True)
    (directory / f"{name}.avsc").write_text(json.dumps(current))
    for version, old in history.items():
        (directory / "history" / f"{name}.v{version}.avsc").write_text(json.dumps(old))
    return directory


def test_an_older_record_stays_readable_after_optional_fields_are_added(tmp_path: Path) -> None:
    older, current = older_outbound_request(), load(schemas_dir() / "OutboundRequest.avsc")
    # Release 1 had the older schema; release 2 added three optional fields.
    release_1 = release(tmp_path / "r1", "OutboundRequest", older, {1: older})
    release_2 = release(tmp_path / "r2", "OutboundRequest", current, {1: older, 2: current})
    written = Serde(release_1).encode(
        "OutboundRequest",
        {
            "idempotency_key": "k1",
            "sender": "ACME",
            "recipient": "447700900123",
            "body": "hi",
            "priority": "BULK",
            "created_at": 1,
        },
    )
    serde = Serde(release_2)
    assert serde.writer_of(written).version == 1
    request = serde.decode_record(OutboundRequest, written)
    assert (request.idempotency_key, request.body, request.priority) == ("k1", "hi", "BULK")
    assert (request.tenant, request.route_hint, request.validity_seconds) == (None, None, None)
    # A reader that lost the old version refuses it plainly, it does not guess.
    (release_2 / "history" / "OutboundRequest.v1.avsc").unlink()
    with pytest.raises(SerdeError, match="unknown writer schema"):
        Serde(release_2).decode("OutboundRequest", written)


def test_a_staged_version_is_read_before_it_is_written(tmp_path: Path) -> None:
    """Rolling upgrade: a release that knows v2 but still writes v1 reads what v2 wrote."""
    older, current = older_outbound_request(), load(schemas_dir() / "OutboundRequest.avsc")
    staged = Serde(release(tmp_path / "s", "OutboundRequest", older, {1: older, 2: current}))
    upgraded = Serde(release(tmp_path / "u", "OutboundRequest", current, {1: older, 2: current}))
    request = OutboundRequest(
        idempotency_key="k", sender="s", recipient="1", body="b", created_at=1, tenant="t"
    )
    assert staged.current("OutboundRequest").version == 1
    assert staged.decode("OutboundRequest", upgraded.encode_record(request))["body"] == "b"
    assert staged.writer_of(staged.encode_record(request)).version == 1


def test_added_fields_get_their_defaults_as_fresh_python_values(tmp_path: Path) -> None:
    current = load(schemas_dir() / "RawInbound.avsc")
    older = {
        **current,
        "fields": [
            f for f in current["fields"] if f["name"] in ("kind", "transport", "received_at")
        ],
    }
    written = Serde(release(tmp_path / "r1", "RawInbound", older, {1: older})).encode(
        "RawInbound", {"kind": "DR", "transport": "smpp", "received_at": 7}
    )
    serde = Serde(release(tmp_path / "r2", "RawInbound", current, {1: older, 2: current}))
    first = serde.decode("RawInbound", written)
    assert first["body"] == b""  # bytes, though the schema's JSON default is a string
    assert (first["fields"], first["data_coding"], first["state"]) == ({}, 0, None)
    first["fields"]["changed"] = "by one consumer"
    assert serde.decode("RawInbound", written)["fields"] == {}


def test_a_dict_may_leave_out_a_bytes_field_that_has_a_default() -> None:
    data = SERDE.encode("RawInbound", {"kind": "DR", "transport": "http", "received_at": 1})
    assert SERDE.decode("RawInbound", data)["body"] == b""


# --- Loading ----------------------------------------------------------------------------


def test_the_schema_directory_can_be_moved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(schemas_dir(), tmp_path / "s")
    monkeypatch.setenv("SMSBRIDGE_SCHEMAS_DIR", str(tmp_path / "s"))
    assert schemas_dir() == tmp_path / "s"
    assert Serde().names == NAMES


def test_schema_directory_mistakes_are_reported(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="no schema directory"):
        Serde(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SchemaError, match="no Avro schemas"):
        Serde(tmp_path / "empty")
    bad = tmp_path / "bad"
    shutil.copytree(schemas_dir(), bad)
    (bad / "history" / "OutboundRequest-v0.avsc").write_text("{}")
    with pytest.raises(SchemaError, match=r"named <Name>\.v<N>\.avsc"):
        Serde(bad)
    (bad / "history" / "OutboundRequest-v0.avsc").unlink()
    (bad / "Misnamed.avsc").write_text((bad / "Correlation.avsc").read_text())
    with pytest.raises(SchemaError, match="not 'Misnamed'"):
        Serde(bad)
    (bad / "Misnamed.avsc").write_text(
        '{"type": "record", "name": "Misnamed", "fields": [{"name": "f", "type": "nosuch"}]}'
    )
    with pytest.raises(SchemaError, match="not a valid Avro schema"):
        Serde(bad)


# --- Bad bytes --------------------------------------------------------------------------

GOOD = SERDE.encode(
    "OutboundRequest",
    {
        "idempotency_key": "k",
        "sender": "s",
        "recipient": "1",
        "body": "hello",
        "tenant": "t",
        "created_at": 1,
        "attributes": {"a": "b"},
    },
)


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (b"\x00\x01" + GOOD[2:], "OutboundRequest", "no C3 01 marker"),
        (GOOD[:9], "OutboundRequest", "no C3 01 marker"),
        (b"", "OutboundRequest", "no C3 01 marker"),
        (None, "OutboundRequest", "tombstone"),
        (MARKER + b"\x00" * 8 + GOOD[10:], "OutboundRequest", "unknown writer schema"),
        (GOOD[:14], "OutboundRequest", "corrupt body"),
        (GOOD[:-1], "OutboundRequest", "corrupt body"),
        (GOOD + b"\x00", "OutboundRequest", "trailing bytes"),
        (GOOD, "OutboundStatus", "expected OutboundStatus, found OutboundRequest"),
    ],
    ids=[
        "marker",
        "short header",
        "empty",
        "tombstone",
        "fingerprint",
        "truncated",
        "last byte cut",
        "trailing",
        "wrong type",
    ],
)
def test_bad_bytes_give_a_serde_error_with_the_reason(
    data: bytes | None, name: str, reason: str
) -> None:
    with pytest.raises(SerdeError, match=reason):
        SERDE.decode(name, data)


def test_every_truncation_is_a_serde_error() -> None:
    for end in range(len(GOOD)):
        with pytest.raises(SerdeError):
            SERDE.decode("OutboundRequest", GOOD[:end])


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"idempotency_key": 5}, "does not fit"),
        (
            {"idempotency_key": "k", "sender": "s", "recipient": "1", "created_at": 1},
            "does not fit",
        ),
        (
            {"idempotency_key": "k", "sender": "s", "recipient": "1", "body": "b", "created_at": 1}
            | {"recipent": "typo"},
            "more fields than the schema",
        ),
        (
            {"idempotency_key": "k", "sender": "s", "recipient": "1", "body": 3, "created_at": 1},
            "does not fit",
        ),
        (
            {"idempotency_key": "k", "sender": "s", "recipient": "1", "body": "b", "created_at": 1}
            | {"priority": "URGENT"},
            "does not fit",
        ),
    ],
)
def test_a_record_that_does_not_fit_gives_a_serde_error(
    record: dict[str, Any], reason: str
) -> None:
    with pytest.raises(SerdeError, match=reason):
        SERDE.encode("OutboundRequest", record)
    with pytest.raises(SerdeError, match="no schema named"):
        SERDE.encode("Nothing", record)


@given(st.binary(max_size=300), st.sampled_from(NAMES))
@settings(max_examples=400)
def test_random_bytes_only_raise_serde_errors(data: bytes, name: str) -> None:
    candidates = [data, MARKER + data, MARKER + SERDE.current(name).fingerprint + data]
    for candidate in candidates:
        with contextlib.suppress(SerdeError):
            SERDE.decode(name, candidate)


@given(st.data())
@settings(max_examples=300)
def test_damaged_records_only_raise_serde_errors(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(NAMES))
    good = bytearray(SERDE.encode(name, data.draw(avro_value(SERDE.current(name).parsed))))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(10, len(good) - 1))
        good[position] = data.draw(st.integers(0, 255))
    with contextlib.suppress(SerdeError):
        SERDE.decode(name, bytes(good))
