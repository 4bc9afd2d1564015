"""The two-site HTTP simulator does what the client and receiver tests rely on."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bridge.devstack.http_sites import AggregatorSimulator, Site, free_port


def mt(message_id: str, **extra: str) -> dict[str, str]:
    return {
        "login": "acme",
        "password": "secret",
        "phone_number": "447700900123",
        "sender": "ACME",
        "message": "hello",
        "message_id": message_id,
        **extra,
    }


async def post(site: Site, params: dict[str, str], read_s: float = 5.0) -> httpx.Response:
    async with httpx.AsyncClient(timeout=read_s) as client:
        return await client.post(site.url, data=params)


async def test_codes_and_duplicates_shared_across_sites(http_sites: AggregatorSimulator) -> None:
    dc3, bos = http_sites.site("dc3"), http_sites.site("bos")
    assert (await post(dc3, mt("m1"))).text == "0 accepted"
    assert (await post(bos, mt("m1"))).text == "7 duplicate message id"
    assert (await post(dc3, mt("m2", password="wrong"))).text.startswith("2 ")
    params = mt("m3")
    del params["sender"]
    assert (await post(dc3, params)).text.startswith("1 ")
    async with httpx.AsyncClient() as client:  # GET works too
        assert (await client.get(bos.url, params=mt("m4"))).text == "0 accepted"
    assert http_sites.accepted_ids() == {"m1": "dc3", "m4": "bos"}
    assert http_sites.attempts_per_message()["m1"] == 2
    assert [r.code for r in http_sites.received("dc3")] == [0, 2, 1]


async def test_forced_codes(http_sites: AggregatorSimulator) -> None:
    dc3 = http_sites.site("dc3")
    dc3.force_code(6, times=2)
    assert [(await post(dc3, mt(f"f{i}"))).text[:2] for i in range(3)] == ["6 ", "6 ", "0 "]
    dc3.force_code(98)
    assert (await post(dc3, mt("f9"))).text.startswith("98 ")
    dc3.normal()
    assert (await post(dc3, mt("f9"))).text == "0 accepted"


async def test_timeout_5xx_refuse_restore(http_sites: AggregatorSimulator) -> None:
    dc3 = http_sites.site("dc3")
    dc3.timeout()
    with pytest.raises(httpx.ReadTimeout):
        await post(dc3, mt("t1"), read_s=0.5)
    assert http_sites.received("dc3")[-1].status is None
    dc3.normal()
    dc3.http_error(503)
    assert (await post(dc3, mt("t2"))).status_code == 503
    await dc3.refuse()
    with pytest.raises(httpx.ConnectError):
        await post(dc3, mt("t3"))
    await dc3.restore()
    assert (await post(dc3, mt("t3"))).text == "0 accepted"
    assert "t1" not in http_sites.accepted_ids()


async def test_sites_on_other_loopback_addresses_share_a_port() -> None:
    port = free_port("127.0.0.2")
    async with AggregatorSimulator(hosts=("127.0.0.2", "127.0.0.3"), port=port) as sim:
        assert {s.port for s in sim.sites} == {port}
        assert (await post(sim.site("bos"), mt("x"))).text == "0 accepted"
        assert sim.accepted_ids() == {"x": "bos"}


async def test_callbacks_retry_until_2xx_and_can_repeat() -> None:
    got: list[tuple[str, dict[str, str]]] = []
    answers = iter([500, 500])  # the first two deliveries fail

    async def receive(request: Request) -> PlainTextResponse:
        if request.headers["content-type"] == "application/json":
            fields = json.loads(await request.body())
        else:
            fields = dict(parse_qsl((await request.body()).decode()))
        got.append((request.headers["x-aggregator-site"], fields))
        return PlainTextResponse("", status_code=next(answers, 200))

    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/cb", receive, methods=["POST"])]),
            port=port,
            log_level="warning",
            lifespan="off",
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        sim = AggregatorSimulator(
            callback_url=f"http://127.0.0.1:{port}/cb", callback_retry_delay_s=0.05
        )
        async with sim:
            mo_id = sim.push_mo("bos", phone_number="447700900123", shortcode="60006", message="hi")
            await sim.callbacks_idle()
            assert [f["message_id"] for _, f in got] == [mo_id] * 3  # same id on every retry
            assert [a.status for a in sim.callback_attempts_log] == [500, 500, 200]

            sim.callback_json = True
            sim.push_dr("dc3", "m1", 2, app_id="app", duplicate=True)
            await sim.callbacks_idle()
            drs = [(s, f) for s, f in got if f["type"] == "receipt"]
            assert len(drs) == 2
            assert drs[0] == (
                "dc3",
                {
                    "type": "receipt",
                    "message_id": "m1",
                    "message_state": "2",
                    "result_code": "0",
                    "app_id": "app",
                },
            )

            sim.auto_dr_states = [6, 2]
            sim.auto_dr_via = "other"
            await post(sim.site("dc3"), mt("m2", receipt="TRUE"))
            await asyncio.sleep(0.05)
            await sim.callbacks_idle()
            auto = [(s, f["message_state"]) for s, f in got if f["message_id"] == "m2"]
            assert sorted(auto) == [("bos", "2"), ("bos", "6")]
    finally:
        server.should_exit = True
        await task
