"""The callback receiver's rules, through its ASGI app (no Kafka: the sink is a list here;
the Kafka-backed sink is tested against the real broker in tests/integration)."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest

from bridge.config.settings import CallbackListenerConfig
from bridge.http.receiver import CallbackEvent, CallbackReceiver, SinkUnavailable, sign


class ListSink:
    def __init__(self) -> None:
        self.events: list[CallbackEvent] = []
        self.down = False
        self.delay_s = 0.0

    async def accept(self, event: CallbackEvent) -> None:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.down:
            raise SinkUnavailable("broker unreachable")
        self.events.append(event)

    def ready(self) -> bool:
        return not self.down


def client_for(receiver: CallbackReceiver, remote: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=receiver.app, client=(remote, 5555))
    return httpx.AsyncClient(transport=transport, base_url="http://bridge")


MO = {
    "type": "MO",
    "message_id": "mo-1",
    "shortcode": "60006",
    "phone_number": "447700900123",
    "carrier": "c",
    "message": "hello",
}
DR = {"type": "receipt", "message_id": "m-1", "message_state": "2", "result_code": "0"}


async def test_form_and_json_events_are_stored_then_answered() -> None:
    sink = ListSink()
    async with client_for(CallbackReceiver(CallbackListenerConfig(), sink)) as client:
        assert (await client.post("/callbacks", data=MO)).status_code == 200
        assert (await client.post("/callbacks", json=DR)).status_code == 200
    assert [(e.kind, e.message_id) for e in sink.events] == [("MO", "mo-1"), ("DR", "m-1")]
    assert sink.events[0].fields["message"] == "hello"


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({**DR, "message_state": "9"}, 422, "message_state must be 1..8"),
        ({**DR, "message_id": ""}, 422, "message_id is missing"),
        ({**MO, "type": "weird"}, 422, "type must be MO or receipt"),
        ({k: v for k, v in MO.items() if k != "shortcode"}, 422, "shortcode is missing"),
    ],
)
async def test_malformed_events_get_4xx_with_reason(
    body: dict[str, str], status: int, reason: str
) -> None:
    sink = ListSink()
    async with client_for(CallbackReceiver(CallbackListenerConfig(), sink)) as client:
        response = await client.post("/callbacks", data=body)
    assert (response.status_code, response.json()) == (status, {"error": reason})
    assert sink.events == []


async def test_not_json_not_utf8_wrong_type() -> None:
    async with client_for(CallbackReceiver(CallbackListenerConfig(), ListSink())) as client:
        r1 = await client.post(
            "/callbacks", content=b"{nope", headers={"content-type": "application/json"}
        )
        r2 = await client.post(
            "/callbacks",
            content=b"\xff\xfe",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        r3 = await client.post(
            "/callbacks", content=b"<xml/>", headers={"content-type": "text/xml"}
        )
    assert [r1.status_code, r2.status_code, r3.status_code] == [400, 400, 415]


async def test_oversized_body_is_refused() -> None:
    config = CallbackListenerConfig(max_body_bytes=1024)
    sink = ListSink()
    async with client_for(CallbackReceiver(config, sink)) as client:
        response = await client.post("/callbacks", data={**MO, "message": "x" * 2000})
    assert response.status_code == 413
    assert sink.events == []


async def test_basic_auth_hmac_and_allow_list() -> None:
    config = CallbackListenerConfig.model_validate(
        {
            "auth": {
                "basic_username": "agg",
                "basic_password": "pw",
                "hmac_secret": "k3y",
                "allow_from": ["10.1.0.0/16"],
            }
        }
    )
    sink = ListSink()
    receiver = CallbackReceiver(config, sink)
    body = json.dumps(DR).encode()
    good = {
        "content-type": "application/json",
        "x-signature": sign("k3y", body),
        "authorization": "Basic " + base64.b64encode(b"agg:pw").decode(),
    }
    async with client_for(receiver, remote="10.1.2.3") as client:
        assert (await client.post("/callbacks", content=body, headers=good)).status_code == 200
        wrong_pw = {**good, "authorization": "Basic " + base64.b64encode(b"agg:nope").decode()}
        assert (await client.post("/callbacks", content=body, headers=wrong_pw)).status_code == 401
        bad_sig = {**good, "x-signature": sign("other", body)}
        assert (await client.post("/callbacks", content=body, headers=bad_sig)).status_code == 401
    async with client_for(receiver, remote="192.0.2.1") as client:
        assert (await client.post("/callbacks", content=body, headers=good)).status_code == 403
    assert len(sink.events) == 1


async def test_unstorable_event_gets_503_and_readiness_follows() -> None:
    sink = ListSink()
    sink.down = True
    async with client_for(CallbackReceiver(CallbackListenerConfig(), sink)) as client:
        assert (await client.post("/callbacks", data=MO)).status_code == 503
        assert (await client.get("/readyz")).status_code == 503
        assert (await client.get("/healthz")).status_code == 200
        sink.down = False
        assert (await client.get("/readyz")).status_code == 200
        metrics = (await client.get("/metrics")).text
    assert 'smsbridge_callbacks_total{kind="MO",result="unavailable"}' in metrics


async def test_concurrency_limit_answers_503_beyond_it() -> None:
    sink = ListSink()
    sink.delay_s = 0.2
    config = CallbackListenerConfig(max_concurrency=5)
    async with client_for(CallbackReceiver(config, sink)) as client:
        answers = await asyncio.gather(
            *(client.post("/callbacks", data={**MO, "message_id": f"mo-{i}"}) for i in range(20))
        )
    codes = sorted(r.status_code for r in answers)
    assert codes.count(200) == 5
    assert codes.count(503) == 15
    assert len(sink.events) == 5
