"""Hypothesis strategies for valid Avro values, derived from a schema's JSON."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

INT = st.integers(-(2**31), 2**31 - 1)
LONG = st.integers(-(2**63), 2**63 - 1)
MILLIS = st.integers(0, 2**45)  # about year 3085: timestamps a producer could write
TEXT = st.text(max_size=24)  # hypothesis leaves out lone surrogates: always valid UTF-8


def avro_value(schema: Any, names: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """Values that fit ``schema``, in the shape the serde reads and writes (timestamps as
    epoch millis, enums as their symbols, arrays as lists)."""
    names = {} if names is None else names
    if isinstance(schema, list):
        return st.one_of(*(avro_value(branch, names) for branch in schema))
    if isinstance(schema, str):
        primitives: dict[str, st.SearchStrategy[Any]] = {
            "null": st.none(),
            "boolean": st.booleans(),
            "int": INT,
            "long": LONG,
            "string": TEXT,
            "bytes": st.binary(max_size=24),
        }
        if schema in primitives:
            return primitives[schema]
        return avro_value(names[schema] if schema in names else names[_short(schema)], names)
    kind = schema["type"]
    if schema.get("logicalType") == "timestamp-millis":
        return MILLIS
    if kind == "record":
        names[schema["name"]] = schema
        fields = {f["name"]: avro_value(f["type"], names) for f in schema["fields"]}
        return st.fixed_dictionaries(fields)
    if kind == "enum":
        names[schema["name"]] = schema
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(avro_value(schema["items"], names), max_size=3)
    if kind == "map":
        return st.dictionaries(TEXT, avro_value(schema["values"], names), max_size=3)
    return avro_value(kind, names)


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]
