"""The real broker and aiokafka's transactions: the guarantees the pipelines rest on."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from bridge.devstack.kafka import LocalKafka
from tests.support.kafka import TopicFactory


async def read_all(kafka: LocalKafka, topic: str, isolation: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        isolation_level=isolation,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        values: list[bytes] = []
        while await consumer.position(tp) < end:
            for record in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                values.append(record.value)
        return values
    finally:
        await consumer.stop()


async def producer(kafka: LocalKafka, transactional_id: str) -> AIOKafkaProducer:
    p = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers, transactional_id=transactional_id
    )
    await p.start()
    return p


async def test_committed_visible_aborted_never(
    kafka: LocalKafka, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory()
    p = await producer(kafka, f"{topic}-tx")
    try:
        async with p.transaction():
            await p.send(topic, b"committed-1")
            await p.send(topic, b"committed-2")
        await p.begin_transaction()
        await p.send(topic, b"aborted")
        await p.flush()
        await p.abort_transaction()
        async with p.transaction():
            await p.send(topic, b"committed-3")
    finally:
        await p.stop()
    assert await read_all(kafka, topic, "read_committed") == [
        b"committed-1",
        b"committed-2",
        b"committed-3",
    ]
    # The aborted record did reach the log: only the isolation level hides it.
    assert b"aborted" in await read_all(kafka, topic, "read_uncommitted")


async def test_offsets_commit_only_with_their_transaction(
    kafka: LocalKafka, topic_factory: TopicFactory
) -> None:
    source, sink = await topic_factory("in"), await topic_factory("out")
    group = f"{source}-group"
    tp = TopicPartition(source, 0)
    p = await producer(kafka, f"{source}-tx")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        await p.begin_transaction()
        await p.send(sink, b"x")
        await p.send_offsets_to_transaction({tp: 7}, group)
        await p.abort_transaction()
        assert await consumer.committed(tp) is None

        async with p.transaction():
            await p.send(sink, b"y")
            await p.send_offsets_to_transaction({tp: 9}, group)
        # EndTxn returns before the markers are written; the old OffsetFetch that aiokafka
        # speaks shows the offset once they are (this is why workers fence before reading).
        for _ in range(50):
            if await consumer.committed(tp) is not None:
                break
            await asyncio.sleep(0.1)
        assert await consumer.committed(tp) == 9
    finally:
        await consumer.stop()
        await p.stop()
    assert await read_all(kafka, sink, "read_committed") == [b"y"]


async def test_a_new_producer_with_the_same_id_fences_the_old(
    kafka: LocalKafka, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory()
    zombie = await producer(kafka, f"{topic}-tx")
    successor = await producer(kafka, f"{topic}-tx")
    try:
        await zombie.begin_transaction()
        await zombie.send(topic, b"from-zombie")
        await zombie.flush()
        # InitProducerId of the successor bumps the epoch and aborts the zombie's transaction.
        await successor.begin_transaction()
        await successor.send(topic, b"from-successor")
        await successor.commit_transaction()
        # aiokafka puts a fenced producer in FATAL_ERROR; its commit then fails with an
        # AssertionError (invalid state transition) rather than ProducerFenced.
        with pytest.raises((KafkaError, AssertionError)):
            await zombie.commit_transaction()
    finally:
        await zombie.stop()
        await successor.stop()
    assert await read_all(kafka, topic, "read_committed") == [b"from-successor"]


async def test_data_survives_a_broker_restart() -> None:
    with LocalKafka() as broker:
        await broker.create_topics(["durable"], 1)
        p = await producer(broker, "durable-tx")
        async with p.transaction():
            await p.send("durable", b"kept")
        await p.stop()
        port = broker.port
        broker.stop()
        assert not broker.running
        broker.start()
        assert broker.port == port
        assert await read_all(broker, "durable", "read_committed") == [b"kept"]
