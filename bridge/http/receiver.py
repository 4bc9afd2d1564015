"""The callback receiver: MOs and DRs that the aggregator POSTs from any site.

An accepted event is handed to the sink (which writes it to the raw inbound topic and
waits for the broker's acknowledgement) and only then answered 200; when the sink cannot
store it the answer is 503, so the service retries and nothing is lost between the two.
Malformed or unauthenticated requests get a 4xx with a reason, a log line and a metric.

Starlette: small, typed, and enough for a handful of routes; uvicorn serves it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge.config.settings import CallbackListenerConfig
from bridge.telemetry.metrics import CONTENT_TYPE_LATEST, metrics, render

log = logging.getLogger(__name__)

MESSAGE_STATES = range(1, 9)  # 1 en-route ... 8 rejected


@dataclass(frozen=True, slots=True)
class CallbackEvent:
    kind: str  # "MO" or "DR"
    message_id: str
    fields: Mapping[str, str]
    remote: str
    site: str | None
    received_at: float = field(default_factory=time.time)


class SinkUnavailable(Exception):
    """The event could not be stored durably: answer 503 so that the service retries."""


class CallbackSink(Protocol):
    async def accept(self, event: CallbackEvent) -> None:
        """Store the event durably (acknowledged by Kafka) or raise SinkUnavailable."""

    def ready(self) -> bool: ...


class Rejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def parse_event(content_type: str, body: bytes) -> tuple[str, str, dict[str, str]]:
    """Validate a callback body; returns (kind, message_id, fields) or raises Rejected."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(400, "body is not UTF-8") from None
    if content_type.startswith("application/json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise Rejected(400, "body is not valid JSON") from None
        if not isinstance(data, dict):
            raise Rejected(400, "JSON body must be an object")
        fields = {str(k): "" if v is None else str(v) for k, v in data.items()}
    elif content_type.startswith("application/x-www-form-urlencoded") or not content_type:
        fields = dict(parse_qsl(text, keep_blank_values=True))
    else:
        raise Rejected(415, f"unsupported content type {content_type.split(';')[0]!r}")
    kind = fields.get("type", "")
    message_id = fields.get("message_id", "").strip()
    if not message_id:
        raise Rejected(422, "message_id is missing")
    if len(message_id) > 128:
        raise Rejected(422, "message_id is longer than 128 characters")
    if kind.lower() == "receipt":
        state = fields.get("message_state", "")
        if not state.isdigit() or int(state) not in MESSAGE_STATES:
            raise Rejected(422, "message_state must be 1..8")
        return "DR", message_id, fields
    if kind.upper() == "MO":
        for name in ("phone_number", "shortcode"):
            if not fields.get(name):
                raise Rejected(422, f"{name} is missing")
        if "message" not in fields:
            raise Rejected(422, "message is missing")
        return "MO", message_id, fields
    raise Rejected(422, "type must be MO or receipt")


class CallbackReceiver:
    def __init__(self, config: CallbackListenerConfig, sink: CallbackSink) -> None:
        self.config = config
        self.sink = sink
        self._slots = asyncio.Semaphore(config.max_concurrency)
        self._networks = [ipaddress.ip_network(n, strict=False) for n in config.auth.allow_from]
        self._metrics = metrics()
        self.app = Starlette(
            routes=[
                Route(config.path, self._callback, methods=["POST"]),
                Route("/healthz", self._healthz, methods=["GET"]),
                Route("/readyz", self._readyz, methods=["GET"]),
                Route("/metrics", self._metrics_endpoint, methods=["GET"]),
            ]
        )

    async def _callback(self, request: Request) -> Response:
        remote = request.client.host if request.client else "unknown"
        if self._slots.locked():
            return self._reject(remote, None, Rejected(503, "too many concurrent callbacks"))
        async with self._slots:
            try:
                self._check_source(remote)
                body = await self._read_body(request)
                self._check_auth(request, body)
                kind, message_id, fields = parse_event(
                    request.headers.get("content-type", ""), body
                )
            except Rejected as rejected:
                return self._reject(remote, None, rejected)
            event = CallbackEvent(
                kind, message_id, fields, remote, request.headers.get("x-aggregator-site")
            )
            try:
                await self.sink.accept(event)
            except SinkUnavailable as exc:
                self._metrics.callbacks.add(1, {"kind": kind, "result": "unavailable"})
                log.warning("callback not stored, answering 503: %s", exc)
                return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
            self._metrics.callbacks.add(1, {"kind": kind, "result": "stored"})
            return JSONResponse({"status": "stored"})

    def _reject(self, remote: str, kind: str | None, rejected: Rejected) -> Response:
        self._metrics.callbacks.add(1, {"kind": kind or "unknown", "result": str(rejected.status)})
        log.warning("callback rejected (%d) from %s: %s", rejected.status, remote, rejected.reason)
        return JSONResponse({"error": rejected.reason}, status_code=rejected.status)

    def _check_source(self, remote: str) -> None:
        if not self._networks:
            return
        try:
            address = ipaddress.ip_address(remote)
        except ValueError:
            raise Rejected(403, "source address not allowed") from None
        if not any(address in network for network in self._networks):
            raise Rejected(403, "source address not allowed")

    async def _read_body(self, request: Request) -> bytes:
        limit = self.config.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise Rejected(413, f"body larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Rejected(413, f"body larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _check_auth(self, request: Request, body: bytes) -> None:
        auth = self.config.auth
        if auth.basic_username is not None and auth.basic_password is not None:
            expected = base64.b64encode(
                f"{auth.basic_username}:{auth.basic_password.get_secret_value()}".encode()
            ).decode()
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Basic {expected}".encode()):
                raise Rejected(401, "wrong or missing credentials")
        if auth.hmac_secret is not None:
            digest = hmac.new(
                auth.hmac_secret.get_secret_value().encode(), body, hashlib.sha256
            ).hexdigest()
            given = request.headers.get(auth.hmac_header, "").removeprefix("sha256=")
            if not hmac.compare_digest(given.lower().encode(), digest.encode()):
                raise Rejected(401, "wrong or missing signature")

    async def _healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def _readyz(self, request: Request) -> Response:
        ready = self.sink.ready()
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    async def _metrics_endpoint(self, request: Request) -> Response:
        return Response(render(), media_type=CONTENT_TYPE_LATEST)


def sign(secret: str, body: bytes) -> str:
    """The signature header value a sender computes for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
