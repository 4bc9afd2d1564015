"""Every metric the bridge exports, in one place (OpenTelemetry, served as Prometheus text).

Labels never carry credentials, phone numbers or bodies: only site, SMSC, bind, kind,
outcome and similar small sets.
"""

from __future__ import annotations

import threading

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import Counter, Histogram, UpDownCounter
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "metrics", "render"]


class Metrics:
    def __init__(self, provider: MeterProvider) -> None:
        meter = provider.get_meter("smsbridge")
        self.callbacks: Counter = meter.create_counter(
            "smsbridge_callbacks", description="HTTP MO/DR callbacks by kind and result"
        )
        self.http_results: Counter = meter.create_counter(
            "smsbridge_http_mt_results", description="HTTP API attempts by site and outcome"
        )
        self.http_failovers: Counter = meter.create_counter(
            "smsbridge_http_failovers", description="Messages that moved to another site"
        )
        self.submit_results: Counter = meter.create_counter(
            "smsbridge_smpp_submit_results", description="submit_sm results by SMSC and status"
        )
        self.binds_up: UpDownCounter = meter.create_up_down_counter(
            "smsbridge_smpp_binds_bound", description="Bound SMPP sessions by SMSC"
        )
        self.window_in_use: UpDownCounter = meter.create_up_down_counter(
            "smsbridge_smpp_window_in_use", description="Outstanding requests by SMSC"
        )
        self.inbound_events: Counter = meter.create_counter(
            "smsbridge_inbound_events", description="Inbound MOs and DRs by type and transport"
        )
        self.dedup_hits: Counter = meter.create_counter(
            "smsbridge_dedup_hits", description="Duplicates suppressed, by stage"
        )
        self.dead_letters: Counter = meter.create_counter(
            "smsbridge_dead_letters", description="Records sent to the dead-letter topic"
        )
        self.transactions: Counter = meter.create_counter(
            "smsbridge_transactions", description="Kafka transactions by pipeline and result"
        )
        self.send_seconds: Histogram = meter.create_histogram(
            "smsbridge_send_seconds", unit="s", description="Time to an outcome per request"
        )


_lock = threading.Lock()
_metrics: Metrics | None = None


def metrics() -> Metrics:
    """The process's instruments (created once, exported through the Prometheus registry)."""
    global _metrics
    with _lock:
        if _metrics is None:
            # One instrumentation scope: its labels on every series would only add noise.
            reader = PrometheusMetricReader(scope_info_enabled=False)
            _metrics = Metrics(MeterProvider(metric_readers=[reader]))
        return _metrics


def render() -> bytes:
    """The /metrics body."""
    metrics()
    return generate_latest(REGISTRY)
