"""The real Kafka broker for the test session.

``kafka`` starts one single-node KRaft broker (jars from Maven Central, cached) for the whole
session. A missing java or mvn is an error, never a skip: the guarantees the pipelines rest
on are only shown against a real broker. ``topic_factory`` makes fresh topics: the broker
never auto-creates one.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Awaitable, Iterator
from typing import Protocol

import pytest

from bridge.devstack.kafka import LocalKafka

_counter = itertools.count()


@pytest.fixture(scope="session")
def kafka() -> Iterator[LocalKafka]:
    """One broker for the session; stopped, and its data deleted, at the end."""
    broker = LocalKafka()
    try:
        broker.start()
    except Exception as exc:  # its data dir stays, for the logs the message points to
        pytest.fail(f"the local Kafka broker did not start: {exc}", pytrace=False)
    try:
        yield broker
    finally:
        broker.close()


class TopicFactory(Protocol):
    def __call__(
        self,
        name: str = "t",
        partitions: int = 1,
        *,
        compacted: bool = False,
        config: dict[str, str] | None = None,
    ) -> Awaitable[str]: ...


@pytest.fixture
def topic_factory(kafka: LocalKafka, request: pytest.FixtureRequest) -> TopicFactory:
    """``await topic_factory("requests", 4, compacted=False)`` -> a new topic's unique name."""
    # Topic names allow [a-zA-Z0-9._-] and 249 characters.
    base = re.sub(r"[^a-zA-Z0-9._-]+", "-", request.node.name).strip("-")[:120]

    async def make(
        name: str = "t",
        partitions: int = 1,
        *,
        compacted: bool = False,
        config: dict[str, str] | None = None,
    ) -> str:
        topic = f"{base}.{re.sub(r'[^a-zA-Z0-9._-]+', '-', name)}.{next(_counter)}"
        await kafka.create_topics([topic], partitions, compacted=compacted, config=config)
        return topic

    return make
