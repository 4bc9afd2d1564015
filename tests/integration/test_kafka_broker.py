"""The real broker and aiokafka's transactions: the guarantees the pipelines rest on.

Each negative check has a positive twin (a read_uncommitted consumer does see the aborted
or fenced records), so a broker or client that ignored transactions would fail here.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import ProducerFenced

from bridge.devstack import kafka as devkafka
from bridge.devstack.kafka import LocalKafka
from tests.support.kafka import TopicFactory

REPO = Path(__file__).resolve().parents[2]


async def read_all(kafka: LocalKafka, topic: str, isolation: str = "read_committed") -> list[bytes]:
    """Every record of partition 0 up to its end (the LSO for read_committed)."""
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


async def started_producer(
    kafka: LocalKafka, transactional_id: str, **options: int
) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers, transactional_id=transactional_id, **options
    )
    await producer.start()
    return producer


async def wait_until_stable(kafka: LocalKafka, topic: str, timeout_s: float = 10) -> None:
    """Until partition 0 has no open transaction: its LSO has caught up with its end."""
    ends: list[int] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ends = []
        for isolation in ("read_committed", "read_uncommitted"):
            consumer = AIOKafkaConsumer(
                bootstrap_servers=kafka.bootstrap_servers, isolation_level=isolation
            )
            await consumer.start()
            try:
                tp = TopicPartition(topic, 0)
                ends.append((await consumer.end_offsets([tp]))[tp])
            finally:
                await consumer.stop()
        if ends[0] == ends[1]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{topic} still has an open transaction (LSO, end: {ends})")


async def committed_offset(
    kafka: LocalKafka, group: str, tp: TopicPartition, *, want: int | None, timeout_s: float = 10
) -> int | None:
    """The group's committed offset, polled until it is ``want`` or the time is up.

    EndTxn returns before the markers are written, and the OffsetFetch version aiokafka
    speaks (no require_stable) shows a transactional offset only once they are.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            got: int | None = await consumer.committed(tp)
            if got == want or time.monotonic() > deadline:
                return got
            await asyncio.sleep(0.1)
    finally:
        await consumer.stop()


@pytest.mark.kafka
async def test_committed_records_are_seen_aborted_never(
    kafka: LocalKafka, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory()
    producer = await started_producer(kafka, f"{topic}-tx")
    try:
        async with producer.transaction():
            await producer.send(topic, b"committed-1")
            await producer.send(topic, b"committed-2")
        await producer.begin_transaction()
        await producer.send(topic, b"aborted")
        await producer.flush()
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send(topic, b"committed-3")
    finally:
        await producer.stop()
    assert await read_all(kafka, topic, "read_committed") == [
        b"committed-1",
        b"committed-2",
        b"committed-3",
    ]
    # The aborted record is in the log: only the isolation level hides it.
    assert await read_all(kafka, topic, "read_uncommitted") == [
        b"committed-1",
        b"committed-2",
        b"aborted",
        b"committed-3",
    ]


@pytest.mark.kafka
async def test_offsets_sent_to_a_transaction_commit_only_with_it(
    kafka: LocalKafka, topic_factory: TopicFactory
) -> None:
    source, sink = await topic_factory("in"), await topic_factory("out")
    group = f"{source}-group"
    tp = TopicPartition(source, 0)
    plain = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await plain.start()
    try:
        for i in range(12):
            await plain.send(source, f"in-{i}".encode())
    finally:
        await plain.stop()

    producer = await started_producer(kafka, f"{source}-tx")
    try:
        async with producer.transaction():
            await producer.send(sink, b"a")
            await producer.send_offsets_to_transaction({tp: 5}, group)
        assert await committed_offset(kafka, group, tp, want=5) == 5

        await producer.begin_transaction()
        await producer.send(sink, b"x")
        await producer.send_offsets_to_transaction({tp: 7}, group)
        await producer.abort_transaction()
        await wait_until_stable(kafka, sink)  # the abort markers are written
        assert await committed_offset(kafka, group, tp, want=7, timeout_s=1) == 5

        async with producer.transaction():
            await producer.send(sink, b"y")
            await producer.send_offsets_to_transaction({tp: 9}, group)
    finally:
        await producer.stop()
    assert await committed_offset(kafka, group, tp, want=9) == 9
    assert await read_all(kafka, sink, "read_committed") == [b"a", b"y"]
    assert await read_all(kafka, sink, "read_uncommitted") == [b"a", b"x", b"y"]

    # A member of the group resumes exactly there.
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        first = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    assert (first.offset, first.value) == (9, b"in-9")


@pytest.mark.kafka
async def test_a_new_producer_with_the_same_id_fences_the_old_one(
    kafka: LocalKafka, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory()
    zombie = await started_producer(kafka, f"{topic}-tx")
    successor: AIOKafkaProducer | None = None
    try:
        await zombie.begin_transaction()
        await zombie.send_and_wait(topic, b"from-zombie")
        # InitProducerId bumps the epoch and aborts the zombie's open transaction.
        successor = await started_producer(kafka, f"{topic}-tx")
        async with successor.transaction():
            await successor.send(topic, b"from-successor")
        with pytest.raises(ProducerFenced):
            await zombie.send_and_wait(topic, b"zombie-again")
        with pytest.raises(ProducerFenced):
            await zombie.commit_transaction()
        # aiokafka quirk: a fenced producer is in FATAL_ERROR and abort_transaction() then
        # fails an internal assert instead of raising a KafkaError; stop() still works.
        with pytest.raises(AssertionError, match="FATAL_ERROR"):
            await zombie.abort_transaction()
    finally:
        await zombie.stop()
        if successor is not None:
            await successor.stop()
    assert await read_all(kafka, topic, "read_committed") == [b"from-successor"]
    assert await read_all(kafka, topic, "read_uncommitted") == [b"from-zombie", b"from-successor"]


@pytest.mark.kafka
async def test_a_transaction_older_than_its_timeout_is_aborted_and_fenced(
    kafka: LocalKafka, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory()
    producer = await started_producer(kafka, f"{topic}-tx", transaction_timeout_ms=1000)
    try:
        await producer.begin_transaction()
        await producer.send_and_wait(topic, b"too-slow")
        # The broker looks for timed-out transactions every second (see properties()).
        await wait_until_stable(kafka, topic)
        with pytest.raises(ProducerFenced):
            await producer.commit_transaction()
    finally:
        await producer.stop()
    assert await read_all(kafka, topic, "read_committed") == []
    assert await read_all(kafka, topic, "read_uncommitted") == [b"too-slow"]


@pytest.mark.kafka
async def test_committed_data_survives_a_restart_and_a_crash(tmp_path: Path) -> None:
    broker = LocalKafka(tmp_path / "kafka")
    async with broker:
        await broker.create_topics(["durable"], 1)
        await broker.create_topics(["durable-compacted"], 1, compacted=True)
        producer = await started_producer(broker, "durable-tx")
        async with producer.transaction():
            await producer.send("durable", b"kept-1")
            await producer.send("durable-compacted", b"v1", key=b"k")
            await producer.send_offsets_to_transaction(
                {TopicPartition("durable", 0): 1}, "durable-group"
            )
        await producer.stop()
        address = broker.bootstrap_servers
        assert (
            await committed_offset(broker, "durable-group", TopicPartition("durable", 0), want=1)
            == 1
        )

        await asyncio.to_thread(broker.stop)
        assert not broker.running
        await asyncio.to_thread(broker.start)
        assert broker.bootstrap_servers == address
        assert await read_all(broker, "durable") == [b"kept-1"]
        assert await read_all(broker, "durable-compacted") == [b"v1"]
        assert (
            await committed_offset(
                broker, "durable-group", TopicPartition("durable", 0), want=1, timeout_s=0
            )
            == 1
        )

        # A crash (SIGKILL) mid-transaction: log recovery keeps what was committed and the
        # transaction coordinator aborts the open transaction of the producer that came back.
        producer = await started_producer(broker, "durable-tx")
        async with producer.transaction():
            await producer.send("durable", b"kept-2")
        await producer.begin_transaction()
        await producer.send_and_wait("durable", b"open-at-crash")
        await asyncio.to_thread(broker.kill)
        await producer.stop()
        await asyncio.to_thread(broker.start)
        assert broker.bootstrap_servers == address
        successor = await started_producer(broker, "durable-tx")
        await successor.begin_transaction()  # waits for InitProducerId, which aborts
        await successor.abort_transaction()
        await successor.stop()
        await wait_until_stable(broker, "durable")
        assert await read_all(broker, "durable") == [b"kept-1", b"kept-2"]
        assert await read_all(broker, "durable", "read_uncommitted") == [
            b"kept-1",
            b"kept-2",
            b"open-at-crash",
        ]
    assert not broker.running
    assert (tmp_path / "kafka").is_dir()  # a data dir given by the caller is kept
    again = LocalKafka(tmp_path / "kafka")  # as `run --data-dir` does: same address
    assert (again.port, again.controller_port) == (broker.port, broker.controller_port)


@pytest.mark.kafka
async def test_create_topics_reports_errors_aiokafka_only_returns(kafka: LocalKafka) -> None:
    with pytest.raises(RuntimeError, match="could not create topics"):
        await kafka.create_topics(["bad-config"], 1, config={"cleanup.policy": "nonsense"})
    await kafka.create_topics(["twice"], 2)
    await kafka.create_topics(["twice"], 2)  # already there: fine


def test_the_jvm_dies_with_the_python_process_that_started_it(tmp_path: Path) -> None:
    # Started from a thread that then ends: PR_SET_PDEATHSIG follows the forking *thread*,
    # so this also shows the JVM is forked from a thread that lives as long as the process.
    script = (
        "import sys, threading, time\n"
        "from bridge.devstack.kafka import LocalKafka\n"
        "k = LocalKafka(sys.argv[1])\n"
        "t = threading.Thread(target=k.start)\n"
        "t.start(); t.join(); time.sleep(1)\n"
        "print(k.pid if k.running else 0, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "kafka")],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    jvm = 0
    try:
        assert parent.stdout is not None
        jvm = int(parent.stdout.readline() or 0)
        assert jvm, "the broker did not start"
        assert _alive(jvm), "the JVM died with the thread that started it"
        parent.kill()  # no atexit, no finally: only PR_SET_PDEATHSIG can stop the JVM now
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(jvm) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(jvm), "the broker JVM outlived the process that started it"
    finally:
        parent.kill()
        if jvm and _alive(jvm):
            os.kill(jvm, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead, only not reaped


def test_missing_mvn_or_java_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SMSBRIDGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert devkafka.main(["fetch"]) == 1
    assert "mvn (Apache Maven) is not installed" in capsys.readouterr().err
    assert devkafka.main(["run", "--data-dir", str(tmp_path / "data")]) == 1
    assert "java is not installed" in capsys.readouterr().err
    assert not (tmp_path / "cache" / "kafka" / devkafka.kafka_version() / "libs").exists()


def test_an_interrupted_fetch_leaves_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMSBRIDGE_CACHE_DIR", str(tmp_path / "cache"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # A mvn that writes part of the jars and then dies, as an interrupted download would.
    fake = bin_dir / "mvn"
    fake.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do case "$a" in -DoutputDirectory=*) d="${a#-DoutputDirectory=}";; esac; done\n'
        'mkdir -p "$d" && touch "$d/kafka-clients-x.jar"\n'
        "exit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(devkafka.KafkaUnavailable, match="mvn could not fetch"):
        devkafka.fetch_jars()
    home = tmp_path / "cache" / "kafka" / devkafka.kafka_version()
    assert not (home / "libs").exists()
    assert [p.name for p in home.iterdir()] == [".fetch.lock"]
