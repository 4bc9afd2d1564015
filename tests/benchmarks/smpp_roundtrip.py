"""Benchmark (not a test): submit_sm round trips per second through our bind pool against
the independent node-smpp peer, over one bind and over four binds, in one run.

    .venv/bin/python -m tests.benchmarks.smpp_roundtrip [count]
"""

from __future__ import annotations

import asyncio
import sys
import time

from bridge.smpp import pdu as p
from bridge.smpp.pool import BindPool, BindTarget
from bridge.smpp.session import ResultKind, SessionSettings, SmppSession
from tests.support.smsc_peer import NodeSmsc


async def no_inbound(session: SmppSession, pdu: p.DeliverSm | p.DataSm) -> bool:
    return True


async def rate(peers: list[NodeSmsc], count: int, window: int) -> float:
    targets = [
        BindTarget(
            "s",
            f"smsc{i}",
            SessionSettings(
                host="127.0.0.1", port=peer.port, system_id="bench", password="pw", window=window
            ),
        )
        for i, peer in enumerate(peers)
    ]
    pool = BindPool(targets, {}, no_inbound)
    pool.start()
    await pool.wait_bound(timeout_s=10)
    limit = asyncio.Semaphore(window * len(peers))

    async def one(i: int) -> bool:
        async with limit:
            result = await pool.submit(
                [
                    p.SubmitSm(
                        source_addr="BENCH",
                        destination_addr="447700900123",
                        short_message=b"benchmark message %d" % i,
                    )
                ]
            )
            return result.results[0].kind is ResultKind.OK

    began = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.perf_counter() - began
    await pool.stop()
    assert all(results), "some submits failed"
    return count / elapsed


async def main(count: int) -> None:
    peers = [await NodeSmsc({"record": False}).start() for _ in range(4)]
    try:
        one = await rate(peers[:1], count, 50)
        four = await rate(peers, count, 50)
    finally:
        for peer in peers:
            await peer.stop()
    print(f"submit_sm round trips/s, window 50, {count} submits, node-smpp peer:")
    print(f"  one bind:   {one:8.0f}/s")
    print(f"  four binds: {four:8.0f}/s   (ratio four/one {four / one:.2f})")
    print("  Kannel reference (field-lessons.md, not measured in this run): ~6.7k/s over one bind")
    print(f"  one bind vs that reference: {one / 6700:.2f}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000))
