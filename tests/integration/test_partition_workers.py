"""Transactional partition workers against the real broker: exactly-once across rebalances."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Sequence

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from bridge.devstack.kafka import LocalKafka
from bridge.kafka.table import ChangelogTable
from bridge.kafka.workers import PartitionWorkers, PausePartition, Transaction, WorkerFenced
from tests.support.kafka import TopicFactory


class Echo:
    """Writes every input to ``out`` and counts keys in a changelog table."""

    def __init__(self, out: str, table: ChangelogTable[int], gate: asyncio.Event | None) -> None:
        self.out = out
        self.table = table
        self.gate = gate
        self.closed = False

    async def process(
        self, records: Sequence[ConsumerRecord[bytes, bytes]], txn: Transaction
    ) -> None:
        if self.gate is not None and not self.gate.is_set():
            raise PausePartition("gate closed", self.gate.wait)
        for record in records:
            key = record.key.decode()
            await self.table.put(txn, key, (self.table.get(key) or 0) + 1)
            await txn.send(self.out, record.value, key=record.key)

    async def tick(self, txn: Transaction) -> None:
        await self.table.expire(txn)

    async def close(self) -> None:
        self.closed = True


def make_workers(
    kafka: LocalKafka, source: str, out: str, changelog: str, gate: asyncio.Event | None = None
) -> tuple[PartitionWorkers, dict[int, Echo]]:
    connection = {"bootstrap_servers": kafka.bootstrap_servers}
    processors: dict[int, Echo] = {}

    async def factory(tp: TopicPartition) -> Echo:
        table: ChangelogTable[int] = ChangelogTable(
            topic=changelog,
            partition=tp.partition,
            encode=lambda v: str(v).encode(),
            decode=lambda b: int(b),
            retention_s=3600,
        )
        await table.restore(connection)
        processors[tp.partition] = Echo(out, table, gate)
        return processors[tp.partition]

    workers = PartitionWorkers(
        name="echo",
        topic=source,
        group_id=f"{source}-group",
        connection=connection,
        transactional_id_prefix=f"{source}-tx",
        factory=factory,
        batch_size=50,
        tick_interval_s=0.3,
        session_timeout_s=6,
    )
    return workers, processors


async def produce(kafka: LocalKafka, topic: str, keys: list[str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    try:
        for i, key in enumerate(keys):
            await producer.send(topic, f"{key}:{i}".encode(), key=key.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def committed_values(
    kafka: LocalKafka, topic: str, expected: int, timeout_s: float = 60
) -> list[bytes]:
    """Read (read_committed) until ``expected`` records or the timeout, then 1 s more."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka.bootstrap_servers,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        while loop.time() < end:
            batch = await consumer.getmany(timeout_ms=300)
            values += [r.value for rs in batch.values() for r in rs]
            if len(values) >= expected:
                end = min(end, loop.time() + 1.0)  # anything extra would show now
        return values
    finally:
        await consumer.stop()


async def test_every_record_once_through_one_worker(
    kafka: LocalKafka, topic_factory: TopicFactory
) -> None:
    source = await topic_factory("in", 3)
    out = await topic_factory("out", 3)
    changelog = await topic_factory("changelog", 3, compacted=True)
    keys = [f"k{i % 40}" for i in range(600)]
    await produce(kafka, source, keys)
    workers, processors = make_workers(kafka, source, out, changelog)
    task = asyncio.create_task(workers.run())
    try:
        values = await committed_values(kafka, out, len(keys))
    finally:
        workers.stop()
        await task
    assert Counter(values) == Counter(f"{k}:{i}".encode() for i, k in enumerate(keys))
    assert all(p.closed for p in processors.values())
    # The changelog holds the counts: a fresh restore sees them all.
    total = 0
    for partition in range(3):
        table: ChangelogTable[int] = ChangelogTable(
            topic=changelog,
            partition=partition,
            encode=lambda v: str(v).encode(),
            decode=lambda b: int(b),
            retention_s=3600,
        )
        await table.restore({"bootstrap_servers": kafka.bootstrap_servers})
        total += sum(v for _, v in table.items())
    assert total == len(keys)


async def test_two_members_and_a_departure_lose_nothing_duplicate_nothing(
    kafka: LocalKafka, topic_factory: TopicFactory
) -> None:
    source = await topic_factory("in", 4)
    out = await topic_factory("out", 4)
    changelog = await topic_factory("changelog", 4, compacted=True)
    n = 3000
    first, first_had = make_workers(kafka, source, out, changelog)
    second, second_had = make_workers(kafka, source, out, changelog)
    t1 = asyncio.create_task(first.run())
    await produce(kafka, source, [f"a{i}" for i in range(n // 2)])
    await asyncio.sleep(1.5)
    t2 = asyncio.create_task(second.run())
    await produce(kafka, source, [f"b{i}" for i in range(n // 2)])
    await asyncio.sleep(2.0)
    first.stop()  # leaves the group mid-run; the second takes its partitions
    await t1
    try:
        values = await committed_values(kafka, out, n)
    finally:
        second.stop()
        await t2
    counts = Counter(values)
    assert len(values) == n, f"{len(values) - len(counts)} duplicates, {n - len(counts)} lost"
    assert set(counts.values()) == {1}
    # It really was a hand-over: partitions the first member processed moved to the second.
    assert set(first_had) & set(second_had)


async def test_a_paused_partition_commits_nothing_then_drains(
    kafka: LocalKafka, topic_factory: TopicFactory
) -> None:
    source = await topic_factory("in", 2)
    out = await topic_factory("out", 2)
    changelog = await topic_factory("changelog", 2, compacted=True)
    gate = asyncio.Event()
    workers, _ = make_workers(kafka, source, out, changelog, gate)
    task = asyncio.create_task(workers.run())
    try:
        await produce(kafka, source, [f"k{i}" for i in range(100)])
        assert await committed_values(kafka, out, 1, timeout_s=4) == []
        for _ in range(50):
            if workers.paused_partitions == [0, 1]:
                break
            await asyncio.sleep(0.1)
        assert workers.paused_partitions == [0, 1]
        assert all(s.paused_reason == "gate closed" for s in workers.stats().values())
        gate.set()
        values = await committed_values(kafka, out, 100)
    finally:
        workers.stop()
        with contextlib.suppress(Exception):
            await task
    assert len(values) == 100
    assert len(set(values)) == 100
    assert workers.paused_partitions == []


async def test_a_fenced_worker_stops_and_writes_nothing_more(
    kafka: LocalKafka, topic_factory: TopicFactory
) -> None:
    source = await topic_factory("in", 1)
    out = await topic_factory("out", 1)
    changelog = await topic_factory("changelog", 1, compacted=True)
    workers, _ = make_workers(kafka, source, out, changelog)
    task = asyncio.create_task(workers.run())
    await produce(kafka, source, [f"before{i}" for i in range(20)])
    assert len(await committed_values(kafka, out, 20)) == 20
    # A new owner of partition 0 (same transactional id) fences the running worker.
    successor = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers, transactional_id=f"{source}-tx-{source}-0"
    )
    await successor.start()
    await successor.begin_transaction()
    try:
        await produce(kafka, source, [f"after{i}" for i in range(20)])
        with pytest.raises(WorkerFenced):
            await asyncio.wait_for(task, 30)
    finally:
        await successor.abort_transaction()
        await successor.stop()
    values = await committed_values(kafka, out, 21, timeout_s=3)
    assert len(values) == 20
    assert not any(v.startswith(b"after") for v in values)
