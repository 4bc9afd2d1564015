"""Transactional partition workers: exactly-once consume-process-produce with aiokafka.

aiokafka speaks only the EOS v1 protocol (no consumer generation in TxnOffsetCommit), so
the broker can fence a zombie only by transactional id. Hence one transactional producer
per *input partition*, with a stable id ``{prefix}-{topic}-{partition}``:

- on assignment, the partition's producer starts and begins a transaction: InitProducerId
  fences the previous owner and completes its open transaction; only then is the committed
  offset read and the partition's state restored;
- each batch of a partition is one transaction: what the processor writes (statuses,
  changelog records, events, dead letters) and the consumed offsets commit together or
  not at all;
- on revocation, the in-flight batch finishes (or aborts) and the producer stops.

A processor that cannot make progress (no transport is up) raises ``PausePartition``:
the batch's transaction aborts, the partition rewinds to the batch's first record and
stays paused, without spinning, until the processor says it is ready again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError, ProducerFenced

log = logging.getLogger(__name__)

Headers = Sequence[tuple[str, bytes]]


class PausePartition(Exception):
    """Raised by a processor: nothing of this batch is written; wait for ``ready``."""

    def __init__(self, reason: str, ready: Callable[[], Awaitable[None]]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.ready = ready


class WorkerFenced(RuntimeError):
    """A partition's producer was fenced or broke: this process must not write for it again."""


class Transaction:
    """What one batch writes: sent through the partition's producer, visible only on commit."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._futures: list[asyncio.Future[Any]] = []
        self._on_commit: list[Callable[[], None]] = []
        self._on_abort: list[Callable[[], None]] = []

    async def send(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        partition: int | None = None,
        headers: Headers = (),
        timestamp_ms: int | None = None,
    ) -> None:
        future = await self._producer.send(
            topic,
            value=value,
            key=key,
            partition=partition,
            headers=list(headers) or None,
            timestamp_ms=timestamp_ms,
        )
        self._futures.append(future)

    @property
    def records_sent(self) -> int:
        return len(self._futures)

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the transaction has committed (e.g. make staged state real)."""
        self._on_commit.append(callback)

    def on_abort(self, callback: Callable[[], None]) -> None:
        self._on_abort.append(callback)

    async def _flushed(self) -> None:
        if self._futures:
            await asyncio.gather(*self._futures)

    def _committed(self) -> None:
        for callback in self._on_commit:
            callback()

    def _aborted(self) -> None:
        for callback in self._on_abort:
            callback()


class PartitionProcessor(Protocol):
    """The pipeline's logic for one input partition. It owns that partition's state."""

    async def process(
        self, records: Sequence[ConsumerRecord[bytes, bytes]], txn: Transaction
    ) -> None:
        """Handle a batch, writing everything it produces through ``txn``."""

    async def tick(self, txn: Transaction) -> None:
        """Periodic work with no input (expiry, timeouts); writes through ``txn``."""

    async def close(self) -> None:
        """The partition is gone from this process: release what it holds."""


ProcessorFactory = Callable[[TopicPartition], Awaitable[PartitionProcessor]]
"""Builds (and restores the state of) the processor of one partition, after fencing."""


@dataclass
class WorkerStats:
    batches_committed: int = 0
    batches_aborted: int = 0
    records_committed: int = 0
    pauses: int = 0
    paused_reason: str | None = None


@dataclass
class _Partition:
    tp: TopicPartition
    producer: AIOKafkaProducer
    processor: PartitionProcessor
    in_transaction: bool = True
    busy: asyncio.Task[None] | None = None
    paused: asyncio.Task[None] | None = None
    stats: WorkerStats = field(default_factory=WorkerStats)


class PartitionWorkers:
    """A consumer group on ``topic`` whose every assigned partition is processed exactly once."""

    def __init__(
        self,
        *,
        name: str,
        topic: str,
        group_id: str,
        connection: dict[str, Any],
        transactional_id_prefix: str,
        factory: ProcessorFactory,
        batch_size: int = 500,
        tick_interval_s: float = 1.0,
        transaction_timeout_s: float = 60.0,
        session_timeout_s: float = 30.0,
        retry_backoff_s: float = 1.0,
    ) -> None:
        self.name = name
        self.topic = topic
        self.group_id = group_id
        self._connection = connection
        self._prefix = transactional_id_prefix
        self._factory = factory
        self._batch_size = batch_size
        self._tick_interval_s = tick_interval_s
        self._transaction_timeout_ms = int(transaction_timeout_s * 1000)
        self._retry_backoff_s = retry_backoff_s
        self._partitions: dict[TopicPartition, _Partition] = {}
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._fatal: BaseException | None = None
        self._consumer = AIOKafkaConsumer(
            group_id=group_id,
            isolation_level="read_committed",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(session_timeout_s * 1000),
            heartbeat_interval_ms=max(1000, int(session_timeout_s * 1000) // 3),
            max_poll_records=batch_size,
            **connection,
        )

    # --- lifecycle -------------------------------------------------------------------

    async def run(self) -> None:
        """Consume until ``stop``; returns after every partition is closed cleanly."""
        self._consumer.subscribe([self.topic], listener=_Listener(self))
        await self._consumer.start()
        try:
            await self._loop()
        finally:
            await self._close_all()
            await self._consumer.stop()
        if self._fatal is not None:
            raise WorkerFenced(f"{self.name}: lost a partition's producer") from self._fatal

    def stop(self) -> None:
        """Stop fetching; in-flight batches finish and commit, then ``run`` returns."""
        self._stopping = True
        self._wakeup.set()

    @property
    def assignment(self) -> list[TopicPartition]:
        return sorted(self._partitions, key=lambda tp: tp.partition)

    def stats(self) -> dict[int, WorkerStats]:
        return {tp.partition: p.stats for tp, p in self._partitions.items()}

    @property
    def paused_partitions(self) -> list[int]:
        return sorted(tp.partition for tp, p in self._partitions.items() if p.paused)

    # --- the loop --------------------------------------------------------------------

    async def _loop(self) -> None:
        next_tick = asyncio.get_running_loop().time() + self._tick_interval_s
        while not self._stopping:
            idle = [tp for tp, p in self._partitions.items() if p.busy is None and p.paused is None]
            if not idle:
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._tick_interval_s)
            else:
                batches = await self._consumer.getmany(
                    *idle,
                    timeout_ms=int(self._tick_interval_s * 1000 / 2),
                    max_records=self._batch_size,
                )
                for tp, records in batches.items():
                    part = self._partitions.get(tp)
                    if part is not None and records and part.busy is None:
                        part.busy = asyncio.create_task(self._run_batch(part, records))
            now = asyncio.get_running_loop().time()
            if now >= next_tick:
                next_tick = now + self._tick_interval_s
                for part in list(self._partitions.values()):
                    if part.busy is None and part.paused is None:
                        part.busy = asyncio.create_task(self._run_batch(part, []))

    async def _run_batch(
        self, part: _Partition, records: Sequence[ConsumerRecord[bytes, bytes]]
    ) -> None:
        txn = Transaction(part.producer)
        try:
            if not part.in_transaction:
                await part.producer.begin_transaction()
                part.in_transaction = True
            if records:
                await part.processor.process(records, txn)
            else:
                await part.processor.tick(txn)
            await txn._flushed()
            if records:
                offsets = {part.tp: records[-1].offset + 1}
                await part.producer.send_offsets_to_transaction(offsets, self.group_id)
            await part.producer.commit_transaction()
            part.in_transaction = False
            txn._committed()
            if records:
                part.stats.batches_committed += 1
                part.stats.records_committed += len(records)
        except PausePartition as pause:
            await self._abort(part, txn, records)  # nothing was sent: the producer is fine
            part.stats.pauses += 1
            part.stats.paused_reason = pause.reason
            log.warning("%s: partition %d paused: %s", self.name, part.tp.partition, pause.reason)
            part.paused = asyncio.create_task(self._paused(part, pause))
        except Exception as exc:
            usable = await self._abort(part, txn, records)
            if isinstance(exc, ProducerFenced) or not usable:
                # A newer owner holds this partition (or the producer is unusable): writing
                # on would be a zombie's work. Stop; the supervisor restarts the process.
                self._fatal = exc
                self.stop()
                log.error(
                    "%s: partition %d: producer unusable: %r", self.name, part.tp.partition, exc
                )
            else:
                log.exception(
                    "%s: batch on partition %d failed; retrying", self.name, part.tp.partition
                )
                await asyncio.sleep(self._retry_backoff_s)
        finally:
            part.busy = None
            self._wakeup.set()

    async def _abort(
        self, part: _Partition, txn: Transaction, records: Sequence[ConsumerRecord[bytes, bytes]]
    ) -> bool:
        """Abort the batch and rewind to its first record; False if the producer is unusable."""
        txn._aborted()
        part.stats.batches_aborted += 1 if records else 0
        usable = True
        if part.in_transaction:
            try:
                await part.producer.abort_transaction()
            except (KafkaError, AssertionError):  # aiokafka asserts in its FATAL_ERROR state
                log.exception("%s: abort failed on partition %d", self.name, part.tp.partition)
                usable = False
            part.in_transaction = False
        if records and part.tp in self._consumer.assignment():
            self._consumer.seek(part.tp, records[0].offset)
        return usable

    async def _paused(self, part: _Partition, pause: PausePartition) -> None:
        self._consumer.pause(part.tp)
        try:
            await pause.ready()
        finally:
            if part.tp in self._consumer.assignment():
                self._consumer.resume(part.tp)
            part.stats.paused_reason = None
            part.paused = None
            self._wakeup.set()
            log.info("%s: partition %d resumed", self.name, part.tp.partition)

    # --- assignment ------------------------------------------------------------------

    async def _assigned(self, assigned: list[TopicPartition]) -> None:
        for tp in assigned:
            if tp in self._partitions:
                continue
            producer = AIOKafkaProducer(
                transactional_id=f"{self._prefix}-{tp.topic}-{tp.partition}",
                transaction_timeout_ms=self._transaction_timeout_ms,
                enable_idempotence=True,
                acks="all",
                linger_ms=5,
                **self._connection,
            )
            await producer.start()
            # Fences the previous owner and settles its open transaction, so the committed
            # offset and the changelog read below are the last ones it really committed.
            await producer.begin_transaction()
            processor = await self._factory(tp)
            committed = await self._consumer.committed(tp)
            if committed is None:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, committed)
            self._partitions[tp] = _Partition(tp, producer, processor)
            log.info("%s: partition %d assigned at offset %s", self.name, tp.partition, committed)
        self._wakeup.set()

    async def _revoked(self, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            await self._close(tp)

    async def _close(self, tp: TopicPartition) -> None:
        part = self._partitions.pop(tp, None)
        if part is None:
            return
        if part.busy is not None:
            with contextlib.suppress(Exception):
                await part.busy
        if part.paused is not None:
            part.paused.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await part.paused
        if part.in_transaction:
            with contextlib.suppress(KafkaError, AssertionError):
                await part.producer.abort_transaction()
        await part.processor.close()
        await part.producer.stop()
        log.info("%s: partition %d closed", self.name, tp.partition)

    async def _close_all(self) -> None:
        for tp in list(self._partitions):
            await self._close(tp)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, workers: PartitionWorkers) -> None:
        self._workers = workers

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._workers._revoked(list(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._workers._assigned(list(assigned))
