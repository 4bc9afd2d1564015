"""The dev stack: a real local Kafka, two simulated aggregator sites (each an HTTP API and
two SMSCs), the topics, and a bridge configuration that points at all of it.

    smsbridge dev-stack      start it, print the addresses, run until Ctrl-C
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bridge.config import BridgeConfig, load_config
from bridge.config.settings import TopicsConfig
from bridge.devstack.http_sites import AggregatorSimulator, free_port
from bridge.devstack.kafka import LocalKafka
from bridge.devstack.smsc import SimulatedSmsc

SITES = ("dc3", "bos")
LOGIN, PASSWORD = "demo", "demo-pw"
PARTITIONS = 4


@dataclass
class DevStack:
    kafka: LocalKafka
    http: AggregatorSimulator
    smscs: dict[str, list[SimulatedSmsc]]
    callback_port: int
    workdir: Path
    config_path: Path = field(init=False)

    def config_data(self) -> dict[str, Any]:
        return {
            "kafka": {
                "bootstrap_servers": [self.kafka.bootstrap_servers],
                "transaction_timeout_s": 60,
            },
            "sites": [
                {
                    "name": site,
                    "http": {
                        "urls": [self.http.site(site).url],
                        "login": LOGIN,
                        "password": PASSWORD,
                    },
                    "smscs": [
                        {
                            "name": s.name,
                            "host": s.host,
                            "port": s.port,
                            "system_id": "demo",
                            "password": "demo",
                            "rebind_interval_s": 5,
                            "binds": 1,
                        }
                        for s in self.smscs[site]
                    ],
                }
                for site in SITES
            ],
            "http_failover": {"retry_delay_s": 2, "budget_s": 20, "probe_interval_s": 5},
            "callbacks": {"host": "127.0.0.1", "port": self.callback_port},
            "telemetry": {"log_format": "console", "log_level": "WARNING"},
        }

    def config(self) -> BridgeConfig:
        return load_config(self.config_path)

    def describe(self) -> str:
        lines = [f"Kafka            {self.kafka.bootstrap_servers}"]
        for site in SITES:
            lines.append(f"site {site:<4} HTTP  {self.http.site(site).url}")
            for smsc in self.smscs[site]:
                lines.append(f"site {site:<4} SMSC  {smsc.name} on {smsc.host}:{smsc.port}")
        lines.append(f"callbacks        http://127.0.0.1:{self.callback_port}/callbacks")
        lines.append(f"bridge config    {self.config_path}")
        return "\n".join(lines)


async def start_stack(workdir: Path | None = None) -> DevStack:
    workdir = workdir or Path(tempfile.mkdtemp(prefix="smsbridge-dev-"))
    kafka = await asyncio.to_thread(LocalKafka(workdir / "kafka").start)
    callback_port = free_port()
    http = AggregatorSimulator(
        SITES,
        login=LOGIN,
        password=PASSWORD,
        callback_url=f"http://127.0.0.1:{callback_port}/callbacks",
    )
    await http.start()
    everyone: list[SimulatedSmsc] = []
    smscs: dict[str, list[SimulatedSmsc]] = {}
    for site in SITES:
        smscs[site] = [SimulatedSmsc(f"smc{i}-{site}", peers=everyone) for i in (1, 2)]
        everyone += smscs[site]
    for smsc in everyone:
        await smsc.start()
    topics = TopicsConfig()
    await kafka.create_topics(
        [
            topics.requests,
            topics.statuses,
            topics.dead_letter,
            topics.raw_inbound,
            topics.correlation,
            topics.mo,
            topics.dr,
        ],
        PARTITIONS,
    )
    await kafka.create_topics(
        [topics.idempotency_changelog, topics.inbound_changelog], PARTITIONS, compacted=True
    )
    stack = DevStack(kafka, http, smscs, callback_port, workdir)
    stack.config_path = workdir / "bridge.yaml"
    stack.config_path.write_text(yaml.safe_dump(stack.config_data(), sort_keys=False))
    return stack


async def stop_stack(stack: DevStack) -> None:
    for smscs in stack.smscs.values():
        for smsc in smscs:
            await smsc.stop()
    await stack.http.stop()
    await asyncio.to_thread(stack.kafka.close)


async def _serve() -> None:
    stack = await start_stack()
    print("The dev stack is up:\n" + stack.describe(), flush=True)
    print("Ctrl-C stops it.", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await stop_stack(stack)


def main() -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve())
    return 0
