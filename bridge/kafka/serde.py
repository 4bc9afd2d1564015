"""Avro with the standard single-object encoding: the contract of every topic.

A record is ``C3 01`` + the 8-byte little-endian CRC-64-AVRO fingerprint of the writer
schema's Parsing Canonical Form + the Avro binary body. The reader finds the writer schema
by its fingerprint among every known version (``schemas/*.avsc`` and
``schemas/history/<Name>.v<N>.avsc``) and resolves it to the current schema, so a record
written before an optional field was added stays readable. Bad bytes raise ``SerdeError``
and nothing else.

Two ways in: plain dicts (``encode(name, dict)`` / ``decode(name, data)``) and the typed
records of ``bridge.core.model`` (``encode_record(record)`` / ``decode_record(cls, data)``).
Timestamps are epoch milliseconds (ints) both ways: the schemas declare
``timestamp-millis`` for other readers, but this serde reads and writes the plain long
(the fingerprint is the same: canonical form drops logical types), which keeps the round
trip symmetric and spares a datetime per field on the hot path.
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from bridge.core.model import AvroRecord

MARKER = b"\xc3\x01"
HEADER_SIZE = 10  # marker + fingerprint
SCHEMAS_DIR_ENV = "SMSBRIDGE_SCHEMAS_DIR"
_HISTORY_FILE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\.v(?P<version>[1-9][0-9]*)\.avsc$")

R = TypeVar("R", bound=AvroRecord)


class SerdeError(ValueError):
    """Bytes that are not a readable record of the expected schema, or a record that does
    not fit its schema. The text says why."""


class SchemaError(Exception):
    """The schema directory is missing, or holds a file that is not a valid schema."""


def schemas_dir() -> Path:
    """``$SMSBRIDGE_SCHEMAS_DIR``, else the repository's ``schemas/``."""
    override = os.environ.get(SCHEMAS_DIR_ENV)
    return Path(override) if override else Path(__file__).resolve().parents[2] / "schemas"


def fingerprint_of(schema: Any) -> bytes:
    """The CRC-64-AVRO fingerprint of a schema (JSON value or parsed), in wire order."""
    parsed = fastavro.parse_schema(schema)
    # fastavro gives the 8 bytes little-endian (wire order) as hex.
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))


def _plain_longs(schema: Any) -> Any:
    """The schema without logical types, so timestamps read and write as ints."""
    if isinstance(schema, list):
        return [_plain_longs(s) for s in schema]
    if isinstance(schema, dict):
        return {
            k: v if k == "default" else _plain_longs(v)
            for k, v in schema.items()
            if k != "logicalType"
        }
    return schema


def _bytes_defaults(parsed: Any, seen: set[int] | None = None) -> None:
    """Turns the JSON string default of each bytes field into bytes, in place.

    The spec writes a bytes default as a string of code points 0-255, and fastavro hands
    that string on as is: a writer given a record without the field fails, and a reader
    filling it in for an older writer returns a str.
    """
    seen = set() if seen is None else seen
    if id(parsed) in seen:
        return
    seen.add(id(parsed))
    if isinstance(parsed, list):
        for item in parsed:
            _bytes_defaults(item, seen)
    elif isinstance(parsed, dict):
        kind = parsed.get("type")
        first = kind[0] if isinstance(kind, list) and kind else kind
        if isinstance(first, dict):
            first = first.get("type")
        if (
            "name" in parsed
            and first in ("bytes", "fixed")
            and isinstance(parsed.get("default"), str)
        ):
            parsed["default"] = parsed["default"].encode("latin-1")
        for key, value in parsed.items():
            if key != "default":
                _bytes_defaults(value, seen)


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """One known version of a record schema."""

    name: str  # OutboundRequest
    version: int | None  # N of history/<name>.vN.avsc; None: the current file, unreleased
    fingerprint: bytes
    path: Path
    parsed: Any  # fastavro's parsed form, without logical types


class Serde:
    """Encodes and decodes the records named by the schemas in ``directory``.

    Build it once (``default_serde()``): loading parses every schema version.
    """

    def __init__(self, directory: Path | None = None) -> None:
        directory = directory or schemas_dir()
        if not directory.is_dir():
            raise SchemaError(f"no schema directory {directory} (set {SCHEMAS_DIR_ENV})")
        self._current: dict[str, SchemaVersion] = {}
        self._headers: dict[str, bytes] = {}
        self._known: dict[bytes, SchemaVersion] = {}  # fingerprint -> writer schema
        history = directory / "history"
        for path in sorted(history.glob("*.avsc")) if history.is_dir() else []:
            match = _HISTORY_FILE.match(path.name)
            if match is None:
                raise SchemaError(f"{path}: history files are named <Name>.v<N>.avsc")
            loaded = _load(path, match["name"], int(match["version"]))
            self._known.setdefault(loaded.fingerprint, loaded)
        for path in sorted(directory.glob("*.avsc")):
            loaded = _load(path, path.stem, None)
            # A released current schema keeps its history version number.
            loaded = self._known.setdefault(loaded.fingerprint, loaded)
            self._current[path.stem] = loaded
            self._headers[path.stem] = MARKER + loaded.fingerprint
        if not self._current:
            raise SchemaError(f"no Avro schemas in {directory}")
        for known in self._known.values():
            if known.name not in self._current:
                raise SchemaError(f"{known.path}: no current {known.name}.avsc")

    @property
    def names(self) -> list[str]:
        """The record types, e.g. ``["Correlation", "DeadLetter", ...]``."""
        return sorted(self._current)

    def current(self, name: str) -> SchemaVersion:
        return self._current[name]

    def versions(self, name: str) -> list[SchemaVersion]:
        """Every known version of ``name`` (history and current)."""
        return [v for v in self._known.values() if v.name == name]

    def encode(self, name: str, record: Mapping[str, Any]) -> bytes:
        """A dict as ``name`` with the current schema. Unknown or missing fields (those
        without a default) are errors, not silently dropped."""
        return self._write(name, record, strict=True)

    def _write(self, name: str, record: Mapping[str, Any], *, strict: bool) -> bytes:
        try:
            parsed = self._current[name].parsed
        except KeyError:
            raise SerdeError(f"no schema named {name!r}") from None
        out = io.BytesIO()
        out.write(self._headers[name])
        try:
            fastavro.schemaless_writer(out, parsed, record, strict_allow_default=strict)
        except Exception as exc:  # fastavro raises many types for a misfit record
            raise SerdeError(f"{name}: record does not fit the schema: {exc}") from None
        return out.getvalue()

    def decode(self, name: str, data: bytes | bytearray | memoryview | None) -> dict[str, Any]:
        """The record in ``data`` as a dict in the shape of the current ``name`` schema."""
        if data is None:
            raise SerdeError("no value (a tombstone)")
        writer = self.writer_of(data)
        if writer.name != name:
            raise SerdeError(f"expected {name}, found {writer.name}")
        reader = self._current[name]
        stream = io.BytesIO(data)
        stream.seek(HEADER_SIZE)
        try:
            if writer is reader:
                record = fastavro.schemaless_reader(stream, writer.parsed, None)
            else:
                # Another version (older, or newer while it is rolled out). fastavro fills
                # the fields the writer lacks with the reader schema's own default objects:
                # copy them, or one record's change to a map would show in every later one.
                resolved = fastavro.schemaless_reader(stream, writer.parsed, reader.parsed)
                record = copy.deepcopy(resolved)
        except Exception as exc:  # fastavro raises many types on corrupt bodies
            raise SerdeError(f"{name}: corrupt body: {type(exc).__name__}: {exc}") from None
        if stream.tell() != len(data):
            raise SerdeError(f"{name}: {len(data) - stream.tell()} trailing bytes after the record")
        if not isinstance(record, dict):
            raise SerdeError(f"{name}: not a record")
        return record

    def writer_of(self, data: bytes | bytearray | memoryview | None) -> SchemaVersion:
        """The schema version that wrote ``data``, from its header (body not read)."""
        if data is None:
            raise SerdeError("no value (a tombstone)")
        if len(data) < HEADER_SIZE or data[:2] != MARKER:
            raise SerdeError("not Avro single-object encoding (no C3 01 marker)")
        fp = bytes(data[2:HEADER_SIZE])
        writer = self._known.get(fp)
        if writer is None:
            raise SerdeError(f"unknown writer schema (fingerprint {fp.hex()})")
        return writer

    def encode_record(self, record: AvroRecord) -> bytes:
        # to_avro() gives exactly the schema's fields (tested), so no strict check.
        return self._write(record.SCHEMA_NAME, record.to_avro(), strict=False)

    def decode_record(self, cls: type[R], data: bytes | bytearray | memoryview | None) -> R:
        """``data`` as an instance of ``cls`` (e.g. ``OutboundRequest``)."""
        fields = self.decode(cls.SCHEMA_NAME, data)
        try:
            return cls.from_avro(fields)
        except (ValueError, KeyError, TypeError) as exc:
            raise SerdeError(f"{cls.SCHEMA_NAME}: {type(exc).__name__}: {exc}") from None


def _load(path: Path, name: str, version: int | None) -> SchemaVersion:
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
        fp = fingerprint_of(schema)
        parsed = fastavro.parse_schema(_plain_longs(schema))
        _bytes_defaults(parsed)
    except Exception as exc:  # JSON or Avro: either way the file is unusable
        raise SchemaError(f"{path}: not a valid Avro schema: {exc}") from exc
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise SchemaError(f"{path}: not a record schema")
    if str(schema.get("name", "")).rsplit(".", 1)[-1] != name:
        raise SchemaError(f"{path}: the record is named {schema.get('name')!r}, not {name!r}")
    return SchemaVersion(name, version, fp, path, parsed)


@cache
def default_serde() -> Serde:
    """The process-wide serde over ``schemas_dir()``, loaded on first use."""
    return Serde()
