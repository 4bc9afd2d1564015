"""Callbacks from the two-site simulator into the raw inbound topic of a real broker,
including a broker outage: 503 while it is down, nothing lost once it is back."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from aiokafka import AIOKafkaConsumer

from bridge.config.settings import CallbackListenerConfig
from bridge.devstack.http_sites import AggregatorSimulator, free_port
from bridge.devstack.kafka import LocalKafka
from bridge.http.receiver import CallbackReceiver
from bridge.inbound.ingest import CallbackIngest, RawInboundWriter
from bridge.kafka.serde import default_serde
from tests.support.kafka import TopicFactory


async def read_raw(
    bootstrap: str, topic: str, expected: int, timeout_s: float = 30
) -> list[tuple[str, dict[str, Any]]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    got: list[tuple[str, dict[str, Any]]] = []
    try:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        while loop.time() < end:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                got += [
                    (r.key.decode(), default_serde().decode("RawInbound", r.value)) for r in records
                ]
            if len(got) >= expected:
                end = min(end, loop.time() + 1.0)
        return got
    finally:
        await consumer.stop()


class Listener:
    """The callback receiver served by uvicorn on loopback, writing to Kafka."""

    def __init__(self, bootstrap: str, topic: str, **config: Any) -> None:
        self.port = free_port()
        self.writer = RawInboundWriter(
            {"bootstrap_servers": bootstrap}, topic, default_serde(), write_timeout_s=2.0
        )
        self.receiver = CallbackReceiver(
            CallbackListenerConfig(**config), CallbackIngest(self.writer)
        )
        self.server = uvicorn.Server(
            uvicorn.Config(
                self.receiver.app,
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                lifespan="off",
            )
        )
        self.task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/callbacks"

    async def __aenter__(self) -> Listener:
        await self.writer.start()
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task
        await self.writer.stop()


@pytest.fixture
async def sim() -> AsyncIterator[AggregatorSimulator]:
    simulator = AggregatorSimulator(callback_retry_delay_s=0.3, callback_attempts=200)
    await simulator.start()
    yield simulator
    await simulator.stop()


async def test_mo_and_dr_callbacks_land_in_the_raw_topic(
    kafka: LocalKafka, topic_factory: TopicFactory, sim: AggregatorSimulator
) -> None:
    topic = await topic_factory("raw", 4)
    async with Listener(kafka.bootstrap_servers, topic, max_concurrency=500) as listener:
        sim.callback_url = listener.url
        for i in range(100):
            sim.push_mo(
                "dc3" if i % 2 else "bos",
                phone_number="447700900123",
                shortcode="60006",
                message=f"MO {i} ü",
                message_id=f"mo-{i}",
                concurrent=True,
            )
            sim.push_dr("bos", f"mt-{i}", 2, concurrent=True)
        sim.push_dr("dc3", "mt-0", 2, duplicate=True)  # the service repeats one
        assert await sim.callbacks_idle(30)
        got = await read_raw(kafka.bootstrap_servers, topic, 202)
    keys = Counter(key for key, _ in got)
    assert len(got) == 202
    assert keys["http:mt-0"] == 3  # ingest keeps repeats; the dedup stage removes them
    mo = next(r for k, r in got if k == "http-mo:mo-7")
    assert (mo["kind"], mo["sender"], mo["recipient"], mo["body"].decode()) == (
        "MO",
        "447700900123",
        "60006",
        "MO 7 ü",
    )
    dr = next(r for k, r in got if k == "http:mt-5")
    assert (dr["kind"], dr["state"], dr["message_id_key"], dr["transport"]) == (
        "DR",
        2,
        "mt-5",
        "http",
    )


async def test_broker_down_means_503_and_nothing_lost_after() -> None:
    with LocalKafka() as broker:
        topic = "raw-outage"
        await broker.create_topics([topic], 2)
        simulator = AggregatorSimulator(callback_retry_delay_s=0.5, callback_attempts=400)
        await simulator.start()
        try:
            async with Listener(broker.bootstrap_servers, topic) as listener:
                simulator.callback_url = listener.url
                for i in range(20):
                    simulator.push_dr("dc3", f"before-{i}", 2)
                await simulator.callbacks_idle(20)
                broker.stop()
                for i in range(30):
                    simulator.push_mo(
                        "bos",
                        phone_number="447700900123",
                        shortcode="60006",
                        message=f"during {i}",
                        message_id=f"during-{i}",
                    )
                await asyncio.sleep(4)
                refused = [a for a in simulator.callback_attempts_log if a.status == 503]
                assert refused, "callbacks were not refused while the broker was down"
                assert not listener.writer.ready()
                broker.start()
                assert await simulator.callbacks_idle(90)
                assert listener.writer.ready()
            got = await read_raw(broker.bootstrap_servers, topic, 50, timeout_s=30)
        finally:
            await simulator.stop()
    keys = {key for key, _ in got}
    assert {f"http:before-{i}" for i in range(20)} <= keys
    assert {f"http-mo:during-{i}" for i in range(30)} <= keys  # every retried callback is there
    assert all(a.status in (200, 503, None) for a in simulator.callback_attempts_log)
