"""The aggregator HTTP client against the two-site simulator: failover as the provider asks."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from typing import Any

import pytest

from bridge.config import BridgeConfig, load_config
from bridge.devstack.http_sites import AggregatorSimulator, free_port
from bridge.http.client import AggregatorClient, MtMessage, Outcome
from bridge.http.health import BreakerState

RETRY_DELAY = 0.4


def config_for(sim: AggregatorSimulator, **failover: Any) -> BridgeConfig:
    return load_config(
        data={
            "kafka": {"bootstrap_servers": ["127.0.0.1:9092"]},
            "sites": [
                {
                    "name": s.name,
                    "http": {
                        "urls": [s.url],
                        "login": "acme",
                        "password": "secret",
                        "timeouts": {"read_s": 0.5},
                    },
                }
                for s in sim.sites
            ],
            "http_failover": {
                "retry_delay_s": RETRY_DELAY,
                "throttle_backoff_s": 0.2,
                "budget_s": 10,
                "probe_interval_s": 1.0,
                **failover,
            },
        }
    )


def mt(message_id: str) -> MtMessage:
    return MtMessage(
        message_id=message_id, phone_number="447700900123", sender="ACME", message="hi"
    )


async def test_primary_times_out_then_the_other_site_and_back(
    http_sites: AggregatorSimulator,
) -> None:
    client = AggregatorClient(config_for(http_sites))
    try:
        http_sites.site("dc3").timeout()
        began = time.monotonic()
        result = await client.send(mt("m1"))
        assert result.outcome is Outcome.ACCEPTED
        assert result.site == "bos"
        # dc3 twice (RETRY_DELAY apart, each a 0.5 s read timeout), then bos.
        assert [(a.site, a.outcome) for a in result.attempts] == [
            ("dc3", Outcome.UNKNOWN),
            ("dc3", Outcome.UNKNOWN),
            ("bos", Outcome.ACCEPTED),
        ]
        gap = result.attempts[1].at - result.attempts[0].at
        assert RETRY_DELAY + 0.5 <= gap < RETRY_DELAY + 1.5
        assert time.monotonic() - began >= 2 * 0.5 + RETRY_DELAY

        # The breaker is open: the next message goes straight to bos, no time lost on dc3.
        assert client.health["dc3"].state is BreakerState.OPEN
        result = await client.send(mt("m2"))
        assert [a.site for a in result.attempts] == ["bos"]

        # dc3 recovers; after the probe interval one message at a time probes it, and two
        # successes in a row close the breaker again.
        http_sites.site("dc3").normal()
        await asyncio.sleep(1.1)
        sites = [(await client.send(mt(f"m{i}"))).site for i in range(3, 6)]
        assert sites == ["dc3", "dc3", "dc3"]
        assert client.health["dc3"].state is BreakerState.CLOSED
        assert http_sites.accepted_ids() == {
            "m1": "bos",
            "m2": "bos",
            "m3": "dc3",
            "m4": "dc3",
            "m5": "dc3",
        }
    finally:
        await client.aclose()


async def test_lost_answer_then_code_7_counts_as_accepted(http_sites: AggregatorSimulator) -> None:
    client = AggregatorClient(config_for(http_sites))
    try:
        # dc3 takes the message but the answer never arrives; the retry gets "duplicate".
        http_sites.site("dc3").timeout(hold_s=0.7, accept=True)
        send = asyncio.create_task(client.send(mt("m1")))
        await asyncio.sleep(0.6)
        http_sites.site("dc3").normal()
        result = await send
        assert result.outcome is Outcome.DUPLICATE
        assert [a.outcome for a in result.attempts] == [Outcome.UNKNOWN, Outcome.DUPLICATE]
        assert http_sites.accepted_ids() == {"m1": "dc3"}  # held once
        ids = {r.params["message_id"] for r in http_sites.received()}
        assert ids == {"m1"}
    finally:
        await client.aclose()


@pytest.mark.parametrize("code", [1, 2, 3, 4, 5])
async def test_permanent_rejections_are_not_retried(
    http_sites: AggregatorSimulator, code: int
) -> None:
    client = AggregatorClient(config_for(http_sites))
    try:
        http_sites.site("dc3").force_code(code)
        result = await client.send(mt("m1"))
        assert result.outcome is Outcome.REJECTED
        assert result.code == code
        assert len(http_sites.received()) == 1
        assert client.health["dc3"].state is BreakerState.CLOSED
    finally:
        await client.aclose()


async def test_throttled_backs_off_then_succeeds(http_sites: AggregatorSimulator) -> None:
    client = AggregatorClient(config_for(http_sites))
    try:
        http_sites.site("dc3").force_code(6, times=3)
        result = await client.send(mt("m1"))
        assert result.outcome is Outcome.ACCEPTED
        assert result.site == "dc3"
        times = [a.at for a in result.attempts]
        assert len(times) == 4
        assert all(b - a >= 0.2 for a, b in itertools.pairwise(times))
        assert client.health["dc3"].state is BreakerState.CLOSED
    finally:
        await client.aclose()


async def test_5xx_and_refused_fail_over_and_budget_ends_ambiguity(
    http_sites: AggregatorSimulator,
) -> None:
    client = AggregatorClient(config_for(http_sites, budget_s=3))
    try:
        http_sites.site("dc3").http_error(502)
        await http_sites.site("bos").refuse()
        result = await client.send(mt("m1"))
        # Nothing could have reached the service: a plain failure, not an ambiguous one.
        assert result.outcome is Outcome.RETRYABLE
        assert {a.outcome for a in result.attempts} == {Outcome.RETRYABLE}
        assert {a.site for a in result.attempts} == {"dc3", "bos"}

        http_sites.site("dc3").timeout()
        result = await client.send(mt("m2"), budget_s=1.5)
        assert result.outcome is Outcome.UNKNOWN
        assert result.may_have_been_sent
    finally:
        await client.aclose()


async def test_dns_mode_follows_a_changed_address(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port("127.0.0.2")
    async with AggregatorSimulator(hosts=("127.0.0.2", "127.0.0.3"), port=port) as sim:
        answer = {"host": "127.0.0.2"}
        real = socket.getaddrinfo

        def fake_dns(host: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.decode() if isinstance(host, bytes) else host  # anyio passes IDNA bytes
            return real(answer["host"] if name == "sms.example.test" else host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", fake_dns)
        config = load_config(
            data={
                "kafka": {"bootstrap_servers": ["127.0.0.1:9092"]},
                "sites": [
                    {
                        "name": "global",
                        "http": {
                            "urls": [f"http://sms.example.test:{port}/httpapi/receiver"],
                            "login": "acme",
                            "password": "secret",
                        },
                    }
                ],
                "http_failover": {
                    "mode": "dns",
                    "dns_url": f"http://sms.example.test:{port}/httpapi/receiver",
                    "dns_ttl_s": 0.5,
                },
            }
        )
        client = AggregatorClient(config)
        try:
            assert (await client.send(mt("a"))).outcome is Outcome.ACCEPTED
            answer["host"] = "127.0.0.3"  # the provider moves the name to the other site
            assert (await client.send(mt("b"))).outcome is Outcome.ACCEPTED  # pooled: old site
            await asyncio.sleep(0.6)  # past the TTL: a new pool resolves again
            assert (await client.send(mt("c"))).outcome is Outcome.ACCEPTED
        finally:
            await client.aclose()
        assert sim.accepted_ids() == {"a": "dc3", "b": "dc3", "c": "bos"}
