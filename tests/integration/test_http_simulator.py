"""The two-site HTTP simulator does what the client and receiver tests rely on.

Plain httpx requests against real loopback servers; callbacks go to a small receiving server
started here.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import gc
import hashlib
import hmac
import itertools
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bridge.devstack.http_sites import AggregatorSimulator, Site, free_port
from bridge.devstack.loopback_server import LoopbackServer


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
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=read_s)) as client:
        return await client.post(site.url, data=params)


def connect_errno(host: str, port: int) -> int:
    with socket.socket() as sock:
        return sock.connect_ex((host, port))


# --- sending MTs ---------------------------------------------------------------------------


async def test_result_codes_and_answer_format() -> None:
    async with AggregatorSimulator(approved_senders={"ACME", "4477"}, carriers={"vodafone"}) as sim:
        dc3 = sim.site("dc3")
        no_sender = mt("m")
        del no_sender["sender"]
        cases: list[tuple[dict[str, str], str]] = [
            (mt("a1"), "0 accepted"),
            (mt("a1"), "7 duplicate message id"),
            (mt("a2", password="wrong"), "2 authentication failed"),
            ({k: v for k, v in mt("a3").items() if k != "login"}, "2 authentication failed"),
            (no_sender, "1 missing parameter: sender"),
            (mt("a4", message=""), "1 missing parameter: message"),
            (mt("a5", phone_number="+447700900123"), "1 invalid parameter: phone_number"),
            (mt("a6", receipt="maybe"), "1 invalid parameter: receipt"),
            (mt("a7", priority="URGENT"), "1 invalid parameter: priority"),
            (mt("a8", sender="TOO LONG NAME"), "4 invalid sender"),
            (mt("a9", sender="OTHER"), "5 sender not approved"),
            (mt("a10", carrier="unknowncom"), "3 unknown carrier"),
            (
                mt("a11", sender="4477", carrier="vodafone", receipt="true", priority="BULK"),
                "0 accepted",
            ),
        ]
        answers = []
        for params, _ in cases:
            response = await post(dc3, params)
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/plain")
            answers.append(response.text)
        assert answers == [want for _, want in cases]
        assert [r.code for r in sim.received()] == [int(w.split()[0]) for _, w in cases]
        assert sim.accepted_ids() == {"a1": "dc3", "a11": "dc3"}

        # Not UTF-8 once percent-decoded: code 1.
        async with httpx.AsyncClient() as client:
            body = urlencode(mt("u1")).encode() + b"&app_id=%FF%FE"
            response = await client.post(
                dc3.url,
                content=body,
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
        assert response.text == "1 invalid parameters: not URL-encoded UTF-8"


async def test_get_post_utf8_and_query_plus_form(http_sites: AggregatorSimulator) -> None:
    bos = http_sites.site("bos")
    async with httpx.AsyncClient() as client:
        got = await client.get(bos.url, params=mt("g1", message="héllo wörld €"))
        assert got.text == "0 accepted"
        # Credentials in the query string, the message in the form body.
        creds = {"login": "acme", "password": "secret"}
        rest = {k: v for k, v in mt("p1", message="a+b=c&d").items() if k not in creds}
        posted = await client.post(bos.url, params=creds, data=rest)
        assert posted.text == "0 accepted"
    get_rec, post_rec = http_sites.received("bos")
    assert (get_rec.method, post_rec.method) == ("GET", "POST")
    assert get_rec.params["message"] == "héllo wörld €"
    assert post_rec.params["message"] == "a+b=c&d"
    assert post_rec.params["login"] == "acme"
    assert post_rec.params["password"] == "secret"


async def test_duplicate_detection_is_shared_by_all_sites(http_sites: AggregatorSimulator) -> None:
    dc3, bos = http_sites.site("dc3"), http_sites.site("bos")
    assert (await post(dc3, mt("m1"))).text == "0 accepted"
    assert (await post(bos, mt("m1"))).text == "7 duplicate message id"
    assert (await post(dc3, mt("m1"))).text == "7 duplicate message id"

    # The same id at both sites at once: exactly one of them takes it.
    answers = await asyncio.gather(
        *(post(s, mt(f"race{i}")) for i in range(10) for s in (dc3, bos))
    )
    texts = [a.text for a in answers]
    assert texts.count("0 accepted") == 10
    assert texts.count("7 duplicate message id") == 10

    assert next(iter(http_sites.accepted_ids())) == "m1"
    assert http_sites.accepted_ids()["m1"] == "dc3"
    counts = http_sites.attempts_per_message()
    assert counts["m1"] == 3
    assert all(counts[f"race{i}"] == 2 for i in range(10))
    stored = [r for r in http_sites.received(message_id="m1") if r.stored]
    assert len(stored) == 1
    assert stored[0].site == "dc3"


async def test_records_keep_what_was_sent_and_answered(http_sites: AggregatorSimulator) -> None:
    dc3, bos = http_sites.site("dc3"), http_sites.site("bos")
    before = time.time()
    await post(dc3, mt("r1", receipt="TRUE", app_id="app-7", conversation_id="conv-9"))
    await post(bos, mt("r1", receipt="TRUE", app_id="app-7", conversation_id="conv-9"))
    first, second = http_sites.received(message_id="r1")
    assert (first.site, second.site) == ("dc3", "bos")
    assert before <= first.at <= second.at <= time.time()
    assert (
        first.params
        == second.params
        == mt("r1", receipt="TRUE", app_id="app-7", conversation_id="conv-9")
    )
    assert (first.status, first.code, first.body, first.stored) == (200, 0, "0 accepted", True)
    assert (second.status, second.code, second.body, second.stored) == (
        200,
        7,
        "7 duplicate message id",
        False,
    )
    assert first.headers is not None
    assert first.headers["content-type"] == "application/x-www-form-urlencoded"
    assert http_sites.received("bos") == [second]


# --- faults --------------------------------------------------------------------------------


async def test_timeout_holds_without_answering(http_sites: AggregatorSimulator) -> None:
    dc3 = http_sites.site("dc3")
    dc3.timeout()
    began = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        await post(dc3, mt("t1"), read_s=0.3)
    assert time.monotonic() - began >= 0.3
    held = http_sites.received("dc3")[-1]
    assert (held.status, held.code, held.body, held.stored) == (None, None, None, False)
    assert "t1" not in http_sites.accepted_ids()
    # The client gave up, the site still holds it: like a server that has not noticed.
    assert dc3.release() == 1

    # A limited hold ends with the connection closed, never with an answer.
    dc3.timeout(hold_s=0.2)
    began = time.monotonic()
    with pytest.raises(httpx.RemoteProtocolError):
        await post(dc3, mt("t2"), read_s=5.0)
    assert 0.2 <= time.monotonic() - began < 2.0

    # release() ends the hold of the requests held now.
    dc3.timeout()
    task = asyncio.create_task(post(dc3, mt("t3"), read_s=5.0))
    await asyncio.sleep(0.2)
    assert dc3.release() == 1
    with pytest.raises(httpx.RemoteProtocolError):
        await task
    assert http_sites.accepted_ids() == {}


async def test_timeout_that_accepts_then_the_retry_is_a_duplicate(
    http_sites: AggregatorSimulator,
) -> None:
    dc3, bos = http_sites.site("dc3"), http_sites.site("bos")
    dc3.timeout(accept=True)
    with pytest.raises(httpx.ReadTimeout):
        await post(dc3, mt("lost", receipt="TRUE"), read_s=0.3)
    assert http_sites.accepted_ids() == {"lost": "dc3"}
    assert (await post(bos, mt("lost"))).text == "7 duplicate message id"
    first, retry = http_sites.received(message_id="lost")
    assert (first.status, first.stored) == (None, True)
    assert first.params["message_id"] == retry.params["message_id"] == "lost"


async def test_http_errors(http_sites: AggregatorSimulator) -> None:
    dc3 = http_sites.site("dc3")
    dc3.http_error(502)
    response = await post(dc3, mt("e1"))
    assert (response.status_code, response.text) == (502, "Bad Gateway")
    dc3.http_error()
    assert (await post(dc3, mt("e1"))).status_code == 503
    assert http_sites.accepted_ids() == {}
    dc3.http_error(500, accept=True)
    assert (await post(dc3, mt("e2"))).status_code == 500
    assert http_sites.accepted_ids() == {"e2": "dc3"}
    assert [(r.status, r.code) for r in http_sites.received("dc3")] == [
        (502, None),
        (503, None),
        (500, None),
    ]
    dc3.normal()
    assert (await post(dc3, mt("e1"))).text == "0 accepted"


async def test_refused_then_restored_on_the_same_port(http_sites: AggregatorSimulator) -> None:
    dc3, bos = http_sites.site("dc3"), http_sites.site("bos")
    port = dc3.port
    # A request held while the site goes down is cut off.
    dc3.timeout()
    held = asyncio.create_task(post(dc3, mt("h1"), read_s=5.0))
    await asyncio.sleep(0.2)
    await dc3.refuse()
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await held
    assert not dc3.listening
    assert connect_errno(dc3.host, port) == errno.ECONNREFUSED
    with pytest.raises(httpx.ConnectError):
        await post(dc3, mt("r1"))
    assert (await post(bos, mt("r1"))).text == "0 accepted"  # the other site is unaffected

    await dc3.restore()
    assert dc3.listening
    assert dc3.port == port
    assert connect_errno(dc3.host, port) == 0
    assert (await post(dc3, mt("r2"))).text == "0 accepted"  # restore also cleared the fault
    # Down and up again, quickly, still the same port.
    await dc3.refuse()
    await dc3.restore()
    assert dc3.port == port
    assert (await post(dc3, mt("r3"))).text == "0 accepted"


async def test_connections_arriving_as_the_site_goes_down_are_closed(
    http_sites: AggregatorSimulator,
) -> None:
    dc3 = http_sites.site("dc3")
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    dialing = True

    async def dial() -> None:
        while dialing:
            try:
                conns.append(await asyncio.open_connection(dc3.host, dc3.port))
            except OSError:
                return

    # The cycle collector would close a half-set-up connection by chance: keep it out.
    gc.disable()
    try:
        dialers = [asyncio.create_task(dial()) for _ in range(8)]
        await asyncio.sleep(0.05)
        await dc3.refuse()
        dialing = False
        await asyncio.gather(*dialers)
        assert len(conns) > 8
        hung = 0
        for reader, writer in conns:
            try:
                assert await asyncio.wait_for(reader.read(), 1.0) == b""
            except ConnectionResetError:
                pass
            except TimeoutError:
                hung += 1
            writer.close()
    finally:
        gc.enable()
    # Every connection the site had taken is closed at once, none left to the client's timeout.
    assert hung == 0


async def test_keep_alive_requests_are_not_delayed(http_sites: AggregatorSimulator) -> None:
    dc3 = http_sites.site("dc3")
    async with httpx.AsyncClient() as client:
        await client.post(dc3.url, data=mt("warm-up"))
        began = time.monotonic()
        for i in range(40):
            assert (await client.post(dc3.url, data=mt(f"k{i}"))).text == "0 accepted"
        # With Nagle on the server's sockets each request waited for a delayed ACK (~40 ms).
        assert time.monotonic() - began < 1.0


async def test_forced_codes(http_sites: AggregatorSimulator) -> None:
    dc3, bos = http_sites.site("dc3"), http_sites.site("bos")
    dc3.force_code(6, times=2)
    dc3.force_code(98, times=1, text="internal error, try later")
    texts = [(await post(dc3, mt(f"f{i}"))).text for i in range(4)]
    assert texts == ["6 throttled", "6 throttled", "98 internal error, try later", "0 accepted"]
    assert http_sites.accepted_ids() == {"f3": "dc3"}

    dc3.force_code(99)  # every request, until normal()
    assert [(await post(dc3, mt(f"g{i}"))).text for i in range(3)] == ["99 other"] * 3
    assert (await post(bos, mt("g0"))).text == "0 accepted"  # per site
    dc3.normal()
    assert (await post(dc3, mt("g1"))).text == "0 accepted"

    # accept=True: stored although the answer says otherwise.
    dc3.force_code(98, times=1, accept=True)
    assert (await post(dc3, mt("k1"))).text == "98 internal error"
    assert (await post(dc3, mt("k1"))).text == "7 duplicate message id"


async def test_latency(http_sites: AggregatorSimulator) -> None:
    dc3 = http_sites.site("dc3")
    dc3.latency_s = 1.0
    began = time.monotonic()
    assert (await post(dc3, mt("l1"))).text == "0 accepted"
    assert time.monotonic() - began >= 1.0
    began = time.monotonic()
    assert (await post(http_sites.site("bos"), mt("l2"))).text == "0 accepted"
    assert time.monotonic() - began < 1.0  # per site


async def test_sites_on_other_loopback_addresses_share_a_port() -> None:
    port = free_port("127.0.0.2")
    async with AggregatorSimulator(hosts=("127.0.0.2", "127.0.0.3"), port=port) as sim:
        dc3, bos = sim.site("dc3"), sim.site("bos")
        assert (dc3.url, bos.url) == (
            f"http://127.0.0.2:{port}/httpapi/receiver",
            f"http://127.0.0.3:{port}/httpapi/receiver",
        )
        assert (await post(bos, mt("x"))).text == "0 accepted"
        assert (await post(dc3, mt("x"))).text == "7 duplicate message id"
        assert sim.accepted_ids() == {"x": "bos"}
        # What a name resolves to picks the site: 127.0.0.2 down, 127.0.0.3 still answers.
        await dc3.refuse()
        assert connect_errno("127.0.0.2", port) == errno.ECONNREFUSED
        assert connect_errno("127.0.0.3", port) == 0
        await dc3.restore()
        assert dc3.port == port


# --- callbacks -----------------------------------------------------------------------------


@dataclass
class Hit:
    peer: str
    headers: dict[str, str]
    body: bytes
    fields: dict[str, str]


@dataclass
class Receiver:
    """A client's callback URL: answers from a script (then 200), records every POST."""

    url: str = ""
    script: list[int] = field(default_factory=list)
    hold_s: float = 0.0
    hits: list[Hit] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    async def handle(self, request: Request) -> PlainTextResponse:
        body = await request.body()
        if request.headers["content-type"] == "application/json":
            fields = json.loads(body)
        else:
            fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
        client = request.client
        assert client is not None
        self.hits.append(Hit(client.host, dict(request.headers), body, fields))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.hold_s)
        finally:
            self.in_flight -= 1
        status = self.script.pop(0) if self.script else 200
        return PlainTextResponse("stored" if status == 200 else "try again", status_code=status)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    server = LoopbackServer(Starlette(routes=[Route("/cb", rec.handle, methods=["POST"])]))
    await server.start()
    rec.url = server.base_url + "/cb"
    try:
        yield rec
    finally:
        await server.stop()


async def test_callback_retried_after_500_with_the_same_message_id(receiver: Receiver) -> None:
    receiver.script = [500, 503]
    sim = AggregatorSimulator(callback_url=receiver.url, callback_retry_delay_s=0.1)
    async with sim:
        mo_id = sim.push_mo("bos", phone_number="447700900123", shortcode="60006", message="hi €")
        assert await sim.callbacks_idle(5)
        assert [h.fields["message_id"] for h in receiver.hits] == [mo_id] * 3
        assert len({h.body for h in receiver.hits}) == 1  # the very same request each time
        assert receiver.hits[0].fields == {
            "type": "MO",
            "message_id": mo_id,
            "shortcode": "60006",
            "phone_number": "447700900123",
            "carrier": "sim-carrier",
            "message": "hi €",
        }
        log = sim.callback_attempts_log
        assert [(a.status, a.attempt, a.answer) for a in log] == [
            (500, 1, "try again"),
            (503, 2, "try again"),
            (200, 3, "stored"),
        ]
        assert all(b.at - a.at >= 0.1 for a, b in itertools.pairwise(log))
        assert {(a.site, a.kind, a.message_id) for a in log} == {("bos", "MO", mo_id)}


async def test_callback_network_errors_are_retried_a_bounded_number_of_times() -> None:
    port = free_port()  # nothing listens there
    sim = AggregatorSimulator(
        callback_url=f"http://127.0.0.1:{port}/cb",
        callback_retry_delay_s=0.05,
        callback_attempts=3,
    )
    async with sim:
        sim.push_dr("dc3", "m1", 2)
        assert await sim.callbacks_idle(5)
        log = sim.callback_attempts_log
        assert [(a.attempt, a.status, a.error) for a in log] == [
            (1, None, "ConnectError"),
            (2, None, "ConnectError"),
            (3, None, "ConnectError"),
        ]
        assert not any(a.ok for a in log)


async def test_duplicate_delivery_on_purpose(receiver: Receiver) -> None:
    receiver.hold_s = 0.2
    sim = AggregatorSimulator(callback_url=receiver.url)
    async with sim:
        sim.push_dr("dc3", "m1", 2, duplicate=True)  # both copies at once
        assert await sim.callbacks_idle(5)
        assert receiver.max_in_flight == 2
        assert len(receiver.hits) == 2
        assert receiver.hits[0].body == receiver.hits[1].body
        assert sorted(a.copy for a in sim.callback_attempts_log) == [0, 1]

        receiver.max_in_flight = 0
        sim.push_mo(
            "bos",
            phone_number="447700900123",
            shortcode="1",
            message="x",
            message_id="mo-9",
            duplicate=True,
            concurrent=False,
        )
        assert await sim.callbacks_idle(5)
        assert receiver.max_in_flight == 1  # the second copy only after the first was answered
        assert [h.fields["message_id"] for h in receiver.hits[2:]] == ["mo-9", "mo-9"]
        assert [a.copy for a in sim.callback_attempts_log[2:]] == [0, 1]


async def test_callbacks_json_vs_form(receiver: Receiver) -> None:
    sim = AggregatorSimulator(callback_url=receiver.url)
    async with sim:
        sim.push_dr("dc3", "m1", 5, result_code=12, app_id="app", conversation_id="c1")
        assert await sim.callbacks_idle(5)
        sim.callback_json = True
        sim.push_dr("dc3", "m1", 5, result_code=12, app_id="app", conversation_id="c1")
        assert await sim.callbacks_idle(5)
    form, as_json = receiver.hits
    assert form.headers["content-type"] == "application/x-www-form-urlencoded"
    assert as_json.headers["content-type"] == "application/json"
    assert form.body == (
        b"type=receipt&message_id=m1&message_state=5&result_code=12&app_id=app&conversation_id=c1"
    )
    assert (
        json.loads(as_json.body)
        == form.fields
        == {
            "type": "receipt",
            "message_id": "m1",
            "message_state": "5",
            "result_code": "12",
            "app_id": "app",
            "conversation_id": "c1",
        }
    )


async def test_callback_basic_auth_and_signature_hook(receiver: Receiver) -> None:
    key = b"shared-secret"

    def sign(body: bytes) -> dict[str, str]:
        return {"x-signature": hmac.new(key, body, hashlib.sha256).hexdigest()}

    sim = AggregatorSimulator(
        callback_url=receiver.url, callback_auth=("hook", "pw"), callback_headers=sign
    )
    async with sim:
        sim.push_mo("dc3", phone_number="447700900123", shortcode="60006", message="signed")
        assert await sim.callbacks_idle(5)
    (hit,) = receiver.hits
    assert hit.headers["authorization"] == "Basic " + base64.b64encode(b"hook:pw").decode()
    assert hit.headers["x-signature"] == hmac.new(key, hit.body, hashlib.sha256).hexdigest()


async def test_a_failing_header_hook_is_logged_not_lost(receiver: Receiver) -> None:
    def broken(body: bytes) -> dict[str, str]:
        raise KeyError("signing key")

    async with AggregatorSimulator(callback_url=receiver.url, callback_headers=broken) as sim:
        sim.push_dr("bos", "m1", 2)
        assert await sim.callbacks_idle(5)
        # Once, not retried: it would fail the same way.
        assert [(a.site, a.message_id, a.status, a.error) for a in sim.callback_attempts_log] == [
            ("bos", "m1", None, "KeyError: 'signing key'")
        ]
    assert receiver.hits == []


async def test_auto_drs_come_through_the_other_site(receiver: Receiver) -> None:
    sim = AggregatorSimulator(hosts=("127.0.0.2", "127.0.0.3"), callback_url=receiver.url)
    sim.auto_dr_states = [6, 2]
    sim.auto_dr_via = "other"
    sim.auto_dr_delay_s = 0.05
    async with sim:
        dc3 = sim.site("dc3")
        await post(dc3, mt("m1", receipt="TRUE", app_id="app-1", conversation_id="conv-1"))
        await post(dc3, mt("m2"))  # no receipt asked: no DR
        await post(dc3, mt("m1", receipt="TRUE"))  # duplicate: no second set of DRs
        assert await sim.callbacks_idle(5)
    assert [(h.peer, h.headers["x-aggregator-site"]) for h in receiver.hits] == [
        ("127.0.0.3", "bos"),
        ("127.0.0.3", "bos"),
    ]
    assert [h.fields for h in receiver.hits] == [
        {
            "type": "receipt",
            "message_id": "m1",
            "message_state": state,
            "result_code": "0",
            "app_id": "app-1",
            "conversation_id": "conv-1",
        }
        for state in ("6", "2")
    ]
