"""Avro with the standard single-object encoding: the contract of every topic.

A record is ``C3 01`` + the 8-byte little-endian CRC-64-AVRO fingerprint of the writer
schema's Parsing Canonical Form + the Avro binary body. The reader finds the writer schema
by its fingerprint among every known version (``schemas/*.avsc`` and
``schemas/history/*.avsc``) and resolves it to the current schema, so a record written
before an optional field was added stays readable. Bad bytes raise ``SerdeError`` only.
"""

from __future__ import annotations

import io
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

MARKER = b"\xc3\x01"


class SerdeError(ValueError):
    """Bytes that are not a readable record of the expected schema (the text says why)."""


def schemas_dir() -> Path:
    override = os.environ.get("SMSBRIDGE_SCHEMAS_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "schemas"


def _fingerprint(parsed: Any) -> bytes:
    # fastavro gives the 8 bytes in wire order (little-endian), as hex.
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))


class Serde:
    """Encodes and decodes the records named by the schemas in ``directory``."""

    def __init__(self, directory: Path | None = None) -> None:
        directory = directory or schemas_dir()
        self._current: dict[str, tuple[Any, bytes]] = {}  # name -> (parsed, header)
        self._writers: dict[bytes, tuple[str, Any]] = {}  # fingerprint -> (name, parsed)
        for path in sorted(directory.glob("*.avsc")):
            parsed = fastavro.parse_schema(json.loads(path.read_text()))
            fp = _fingerprint(parsed)
            self._current[path.stem] = (parsed, MARKER + fp)
            self._writers[fp] = (path.stem, parsed)
        for path in sorted((directory / "history").glob("*.avsc")):
            name = path.name.split(".")[0]  # OutboundRequest.v1.avsc
            parsed = fastavro.parse_schema(json.loads(path.read_text()))
            self._writers[_fingerprint(parsed)] = (name, parsed)
        if not self._current:
            raise FileNotFoundError(f"no Avro schemas in {directory}")

    @property
    def names(self) -> list[str]:
        return sorted(self._current)

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        parsed, header = self._current[name]
        out = io.BytesIO()
        out.write(header)
        try:
            fastavro.schemaless_writer(out, parsed, record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise SerdeError(f"{name}: record does not fit the schema: {exc}") from None
        return out.getvalue()

    def decode(self, name: str, data: bytes) -> dict[str, Any]:
        if len(data) < 10 or data[:2] != MARKER:
            raise SerdeError("not Avro single-object encoding (no C3 01 marker)")
        fp = bytes(data[2:10])
        writer = self._writers.get(fp)
        if writer is None:
            raise SerdeError(f"unknown writer schema (fingerprint {fp.hex()})")
        writer_name, writer_schema = writer
        if writer_name != name:
            raise SerdeError(f"a {writer_name} record where {name} was expected")
        reader_schema = self._current[name][0]
        stream = io.BytesIO(data)
        stream.seek(10)
        try:
            # Resolution only for an older writer: the common case reads directly.
            record = fastavro.schemaless_reader(
                stream, writer_schema, None if writer_schema is reader_schema else reader_schema
            )
        except Exception as exc:  # fastavro raises many types on corrupt bodies
            raise SerdeError(f"{name}: corrupt body: {type(exc).__name__}: {exc}") from None
        if stream.tell() != len(data):
            raise SerdeError(f"{name}: {len(data) - stream.tell()} trailing bytes after the record")
        if not isinstance(record, dict):
            raise SerdeError(f"{name}: not a record")
        return record


@cache
def default_serde() -> Serde:
    return Serde()
