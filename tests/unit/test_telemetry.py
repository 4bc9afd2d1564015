"""Trace context through Kafka headers, and log lines that carry the trace id."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bridge.telemetry.logs import mask, setup_logging
from bridge.telemetry.tracing import (
    context_from_headers,
    context_from_traceparent,
    headers_from_context,
    traceparent,
)


@pytest.fixture
def spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_a_child_span_continues_the_upstream_trace(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("upstream producer") as upstream:
        headers = [("other", b"x"), *headers_from_context()]
    with tracer.start_as_current_span("send", context=context_from_headers(headers)):
        parent = traceparent()
    with tracer.start_as_current_span("dr", context=context_from_traceparent(parent)):
        pass
    upstream_id = upstream.get_span_context().trace_id
    finished = {s.name: s for s in exporter.get_finished_spans()}
    assert {s.context.trace_id for s in finished.values()} == {upstream_id}
    assert finished["send"].parent is not None
    assert finished["send"].parent.span_id == upstream.get_span_context().span_id
    assert finished["dr"].parent is not None
    assert finished["dr"].parent.span_id == finished["send"].context.span_id


def test_no_headers_no_parent(spans: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, exporter = spans
    with provider.get_tracer("t").start_as_current_span("root", context=context_from_headers(None)):
        pass
    assert exporter.get_finished_spans()[0].parent is None


def test_json_log_lines_carry_the_trace_id(
    spans: tuple[TracerProvider, InMemorySpanExporter], capsys: pytest.CaptureFixture[str]
) -> None:
    provider, _ = spans
    setup_logging("INFO", "json")
    try:
        with provider.get_tracer("t").start_as_current_span("work") as span:
            logging.getLogger("bridge.test").info("sent to %s", mask("447700900123"))
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    finally:
        logging.getLogger().handlers.clear()
    assert line["event"] == "sent to 447*********"
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["level"] == "info"
