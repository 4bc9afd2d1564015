"""Changelog-backed state of one partition (a Faust-style table).

Every change is a record in a compacted changelog topic, written in the partition's
transaction, on the changelog partition with the same number as the input partition.
On assignment the table is rebuilt by reading that changelog partition to its end.

Writes made in a transaction are staged: the batch reads its own writes at once, and they
become the table's state only when the transaction commits (they vanish if it aborts), so
memory never runs ahead of what Kafka holds. Entries older than the retention window are
removed with tombstones, which keeps memory bounded.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition

from bridge.kafka.workers import Transaction

V = TypeVar("V")


class ChangelogTable(Generic[V]):
    def __init__(
        self,
        *,
        topic: str,
        partition: int,
        encode: Callable[[V], bytes],
        decode: Callable[[bytes], V],
        retention_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.topic = topic
        self.partition = partition
        self._encode = encode
        self._decode = decode
        self._retention_ms = int(retention_s * 1000)
        self._clock = clock
        # key -> (value, written at ms); insertion order is age order (re-puts move to the end)
        self._data: OrderedDict[str, tuple[V, int]] = OrderedDict()
        self._staged: dict[str, tuple[V, int] | None] = {}  # None: deleted

    # --- reading -------------------------------------------------------------------------

    def get(self, key: str) -> V | None:
        entry = self._staged[key] if key in self._staged else self._data.get(key)
        return entry[0] if entry is not None else None

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __len__(self) -> int:
        return len(self._data)

    def items(self) -> Iterator[tuple[str, V]]:
        """Committed entries, oldest first."""
        for key, (value, _) in self._data.items():
            yield key, value

    # --- writing (inside a transaction) ------------------------------------------------

    async def put(self, txn: Transaction, key: str, value: V) -> None:
        now_ms = int(self._clock() * 1000)
        self._stage(txn, key, (value, now_ms))
        await txn.send(
            self.topic,
            self._encode(value),
            key=key.encode(),
            partition=self.partition,
            timestamp_ms=now_ms,
        )

    async def delete(self, txn: Transaction, key: str) -> None:
        self._stage(txn, key, None)
        await txn.send(self.topic, None, key=key.encode(), partition=self.partition)

    async def expire(self, txn: Transaction, max_deletes: int = 10_000) -> int:
        """Tombstone entries older than the retention window; returns how many."""
        cutoff = int(self._clock() * 1000) - self._retention_ms
        expired: list[str] = []
        for key, (_, written_ms) in self._data.items():
            if written_ms >= cutoff or len(expired) >= max_deletes:
                break
            if key not in self._staged:
                expired.append(key)
        for key in expired:
            await self.delete(txn, key)
        return len(expired)

    def _stage(self, txn: Transaction, key: str, entry: tuple[V, int] | None) -> None:
        if not self._staged:
            txn.on_commit(self._apply)
            txn.on_abort(self._staged.clear)
        self._staged[key] = entry

    def _apply(self) -> None:
        for key, entry in self._staged.items():
            self._data.pop(key, None)
            if entry is not None:
                self._data[key] = entry
        self._staged.clear()

    # --- restoring -----------------------------------------------------------------------

    async def restore(self, connection: dict[str, Any]) -> int:
        """Rebuild from the changelog partition; returns the number of records read."""
        self._data.clear()
        self._staged.clear()
        tp = TopicPartition(self.topic, self.partition)
        consumer = AIOKafkaConsumer(
            isolation_level="read_committed", enable_auto_commit=False, **connection
        )
        await consumer.start()
        read = 0
        try:
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            end = (await consumer.end_offsets([tp]))[tp]
            while await consumer.position(tp) < end:
                batches = await consumer.getmany(tp, timeout_ms=500, max_records=10_000)
                for record in batches.get(tp, []):
                    read += 1
                    if record.key is None:
                        continue
                    key = record.key.decode()
                    self._data.pop(key, None)
                    if record.value is not None:
                        self._data[key] = (self._decode(record.value), record.timestamp)
        finally:
            await consumer.stop()
        # Age order after compaction may not be write order: sort once.
        self._data = OrderedDict(sorted(self._data.items(), key=lambda kv: kv[1][1]))
        return read
