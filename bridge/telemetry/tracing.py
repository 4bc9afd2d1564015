"""Tracing: OpenTelemetry set up from the standard OTEL_* variables, W3C trace context
carried in Kafka record headers.

``OTEL_TRACES_EXPORTER`` chooses the exporter: ``none`` (the default here) or ``otlp``
(OTLP over HTTP, configured by ``OTEL_EXPORTER_OTLP_ENDPOINT`` and friends); the service
name comes from ``OTEL_SERVICE_NAME`` (default ``smsbridge``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

KafkaHeaders = Sequence[tuple[str, bytes]]
_TRACE_HEADERS = ("traceparent", "tracestate")


def setup_tracing(extra_processors: Sequence[SpanProcessor] = ()) -> TracerProvider:
    """Install the process's tracer provider (call once, at start-up)."""
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "smsbridge")})
    provider = TracerProvider(resource=resource)
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower()
    if exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    elif exporter not in ("", "none"):
        raise ValueError(f"OTEL_TRACES_EXPORTER={exporter!r}: this build knows otlp or none")
    for processor in extra_processors:
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    return provider


def tracer() -> trace.Tracer:
    return trace.get_tracer("smsbridge")


def context_from_headers(headers: KafkaHeaders | None) -> otel_context.Context:
    """The upstream producer's trace context from a record's headers (empty if none)."""
    carrier = {
        key: value.decode("latin-1")
        for key, value in headers or ()
        if key in _TRACE_HEADERS and value is not None
    }
    return extract(carrier)


def headers_from_context(ctx: otel_context.Context | None = None) -> list[tuple[str, bytes]]:
    """W3C headers for the current (or given) context, to put on a produced record."""
    carrier: dict[str, str] = {}
    inject(carrier, context=ctx)
    return [(key, value.encode("latin-1")) for key, value in carrier.items()]


def traceparent(ctx: otel_context.Context | None = None) -> str | None:
    """The W3C traceparent of the current span, for records that carry it as a field."""
    carrier: dict[str, str] = {}
    inject(carrier, context=ctx)
    return carrier.get("traceparent")


def context_from_traceparent(value: str | None) -> otel_context.Context:
    return extract({"traceparent": value} if value else {})
