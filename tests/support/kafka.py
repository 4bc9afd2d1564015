"""The real Kafka broker for the test session (fails loudly when Java or Maven is missing)."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterator

import pytest

from bridge.devstack.kafka import LocalKafka

_counter = itertools.count()


@pytest.fixture(scope="session")
def kafka() -> Iterator[LocalKafka]:
    """One single-node KRaft broker for the whole session, started from Maven Central jars."""
    with LocalKafka() as broker:
        yield broker


TopicFactory = Callable[..., Awaitable[str]]


@pytest.fixture
def topic_factory(kafka: LocalKafka, request: pytest.FixtureRequest) -> TopicFactory:
    """``await topic_factory("requests", partitions=4)`` -> a fresh, unique topic name."""
    base = request.node.name.replace("[", "-").replace("]", "")[:80]

    async def make(name: str = "t", partitions: int = 1, *, compacted: bool = False) -> str:
        topic = f"{base}.{name}.{next(_counter)}"
        await kafka.create_topics([topic], partitions, compacted=compacted)
        return topic

    return make
