"""A simulated multi-site SMS aggregator HTTP API, for tests and the demo.

Each site is a real HTTP server on loopback (uvicorn, in the caller's event loop) serving
``/httpapi/receiver`` (GET or POST, URL-encoded UTF-8). The answer is HTTP 200 with the
result code as text, then optionally a space and a reason: ``0``, ``7 duplicate message
id``. Codes: 0 accepted, 1 missing or invalid parameter, 2 authentication failed,
3 unknown carrier, 4 invalid sender, 5 sender not approved, 6 throttled, 7 duplicate
message id, 98 internal error, 99 other. Like the real service, the store of accepted
message ids is shared by every site: a message accepted by one site is a duplicate at all.

Faults, per site, set from Python at any time: ``timeout`` (hold requests unanswered),
``http_error`` (answer 5xx), ``refuse`` (really stop listening; ``restore`` listens again
on the same port), ``force_code`` (the next N answers, or all, get code X), ``latency``.

Callbacks: ``push_mo`` and ``push_dr`` POST to the client's URL from a chosen site, form-
encoded or JSON, and retry with the same message_id on any non-2xx answer or network
error; ``duplicate=True`` delivers twice on purpose. ``auto_dr`` sends DRs for every
accepted MT that asked for a receipt, through the same or the other site.

For DNS-mode tests, sites can listen on different loopback addresses (127.0.0.2,
127.0.0.3, ...) and the same port: switching what a name resolves to switches the site.

    sim = AggregatorSimulator(login="acme", password="pw")
    await sim.start()
    sim.site("dc3").timeout()
    ...
    await sim.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

REQUIRED = ("login", "password", "phone_number", "sender", "message", "message_id")
REASONS = {
    0: "accepted",
    1: "missing or invalid parameter",
    2: "authentication failed",
    3: "unknown carrier",
    4: "invalid sender",
    5: "sender not approved",
    6: "throttled",
    7: "duplicate message id",
    98: "internal error",
    99: "other",
}


@dataclass(frozen=True, slots=True)
class Received:
    site: str
    at: float
    method: str
    params: dict[str, str]
    status: int | None  # None: never answered (timeout mode)
    code: int | None


@dataclass(frozen=True, slots=True)
class CallbackAttempt:
    site: str
    kind: str  # "MO" or "receipt"
    message_id: str
    status: int | None  # None: network error
    error: str | None
    at: float


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class Site:
    """One site: its server, its faults, what it received."""

    def __init__(self, sim: AggregatorSimulator, name: str, host: str, port: int) -> None:
        self.sim = sim
        self.name = name
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._hold: asyncio.Event | None = None
        self._hold_s: float | None = None
        self._accept_held = False
        self._http_error: int | None = None
        self._forced: list[int] = []
        self._forced_always: int | None = None
        self.latency_s = 0.0
        self.app = Starlette(
            routes=[Route("/httpapi/receiver", self._receive, methods=["GET", "POST"])]
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/httpapi/receiver"

    # --- faults --------------------------------------------------------------------------

    def timeout(self, hold_s: float | None = None, *, accept: bool = False) -> None:
        """Hold every request unanswered: for ``hold_s`` then close, or until ``normal``.

        ``accept=True``: the message is taken first and only the answer is lost, the case
        where a client cannot know that it was sent.
        """
        self._hold = asyncio.Event()
        self._hold_s = hold_s
        self._accept_held = accept

    def http_error(self, status: int = 503) -> None:
        self._http_error = status

    def force_code(self, code: int, times: int | None = None) -> None:
        """The next ``times`` answers (all, when None) carry ``code``."""
        if times is None:
            self._forced_always = code
        else:
            self._forced.extend([code] * times)

    def normal(self) -> None:
        if self._hold is not None:
            self._hold.set()
        self._hold = None
        self._http_error = None
        self._forced.clear()
        self._forced_always = None
        self.latency_s = 0.0

    async def refuse(self) -> None:
        """Stop listening: connecting now fails with connection refused."""
        await self._stop_server()

    async def restore(self) -> None:
        """Listen again, on the same address and port, with no fault."""
        self.normal()
        await self._start_server()

    # --- server --------------------------------------------------------------------------

    async def _start_server(self) -> None:
        if self._task is not None:
            return
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it (e.g. port in use)
                raise RuntimeError(f"site {self.name} did not start")
            await asyncio.sleep(0.01)

    async def _stop_server(self) -> None:
        if self._hold is not None:
            self._hold.set()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._server = None
        self._task = None

    # --- the API -------------------------------------------------------------------------

    async def _receive(self, request: Request) -> Response:
        if request.method == "POST":
            params = dict(
                parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
            )
        else:
            params = dict(request.query_params)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if self._hold is not None:
            hold = self._hold
            code = self._decide(params) if self._accept_held else None
            if code == 0:
                self.sim._accepted(self, params)
            self.sim._record(Received(self.name, time.time(), request.method, params, None, code))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(hold.wait(), self._hold_s)
            # The client has given up by now; close without an answer.
            return Response(status_code=500, content=b"")
        if self._http_error is not None:
            status = self._http_error
            self.sim._record(Received(self.name, time.time(), request.method, params, status, None))
            return PlainTextResponse("site unavailable", status_code=status)
        code = self._decide(params)
        self.sim._record(Received(self.name, time.time(), request.method, params, 200, code))
        if code == 0:
            self.sim._accepted(self, params)
        return PlainTextResponse(f"{code} {REASONS.get(code, 'other')}")

    def _decide(self, params: Mapping[str, str]) -> int:
        if self._forced:
            return self._forced.pop(0)
        if self._forced_always is not None:
            return self._forced_always
        if any(not params.get(name) for name in REQUIRED):
            return 1
        if params["login"] != self.sim.login or params["password"] != self.sim.password:
            return 2
        if not params["phone_number"].isdigit():
            return 1
        if params["message_id"] in self.sim._accepted_ids:
            return 7
        return 0


class AggregatorSimulator:
    """Several hot sites sharing one store of accepted message ids."""

    def __init__(
        self,
        sites: tuple[str, ...] = ("dc3", "bos"),
        *,
        login: str = "acme",
        password: str = "secret",
        hosts: tuple[str, ...] | None = None,
        port: int | None = None,
        callback_url: str | None = None,
        callback_json: bool = False,
        callback_retry_delay_s: float = 0.2,
        callback_attempts: int = 50,
        callback_headers: Callable[[bytes], dict[str, str]] | None = None,
    ) -> None:
        self.login = login
        self.password = password
        self.callback_url = callback_url
        self.callback_json = callback_json
        self.callback_retry_delay_s = callback_retry_delay_s
        self.callback_attempts = callback_attempts
        self.callback_headers = callback_headers
        self.auto_dr_states: list[int] = []
        self.auto_dr_via: str = "same"  # or "other"
        self.auto_dr_delay_s = 0.0
        hosts = hosts or ("127.0.0.1",) * len(sites)
        shared_port = port
        self._sites = {
            name: Site(self, name, host, shared_port or free_port(host))
            for name, host in zip(sites, hosts, strict=True)
        }
        self._received: list[Received] = []
        self._accepted_ids: dict[str, str] = {}  # message_id -> site that accepted it
        self.callback_attempts_log: list[CallbackAttempt] = []
        self._callbacks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        self._ids = itertools.count(1)

    def site(self, name: str) -> Site:
        return self._sites[name]

    @property
    def sites(self) -> list[Site]:
        return list(self._sites.values())

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=5.0)
        for site in self._sites.values():
            await site._start_server()

    async def stop(self) -> None:
        for task in list(self._callbacks):
            task.cancel()
        for task in list(self._callbacks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for site in self._sites.values():
            await site._stop_server()
        if self._client is not None:
            await self._client.aclose()

    async def __aenter__(self) -> AggregatorSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- what it received ----------------------------------------------------------------

    def received(self, site: str | None = None) -> list[Received]:
        return [r for r in self._received if site is None or r.site == site]

    def accepted_ids(self) -> dict[str, str]:
        """message_id -> the site that accepted it."""
        return dict(self._accepted_ids)

    def attempts_per_message(self) -> Counter[str]:
        return Counter(r.params.get("message_id", "") for r in self._received)

    def _record(self, received: Received) -> None:
        self._received.append(received)

    def _accepted(self, site: Site, params: Mapping[str, str]) -> None:
        self._accepted_ids[params["message_id"]] = site.name
        if self.auto_dr_states and params.get("receipt", "").upper() == "TRUE":
            via = site.name
            if self.auto_dr_via == "other":
                via = next((s for s in self._sites if s != site.name), site.name)
            for state in self.auto_dr_states:
                self.push_dr(
                    via,
                    params["message_id"],
                    state,
                    app_id=params.get("app_id"),
                    conversation_id=params.get("conversation_id"),
                    delay_s=self.auto_dr_delay_s,
                )

    # --- callbacks -----------------------------------------------------------------------

    def push_mo(
        self,
        site: str,
        *,
        phone_number: str,
        shortcode: str,
        message: str,
        message_id: str | None = None,
        carrier: str = "sim-carrier",
        duplicate: bool = False,
    ) -> str:
        message_id = message_id or f"mo-{next(self._ids)}"
        fields = {
            "type": "MO",
            "message_id": message_id,
            "shortcode": shortcode,
            "phone_number": phone_number,
            "carrier": carrier,
            "message": message,
        }
        for _ in range(2 if duplicate else 1):
            self._spawn(self._deliver(site, fields, 0.0))
        return message_id

    def push_dr(
        self,
        site: str,
        message_id: str,
        message_state: int,
        *,
        result_code: int = 0,
        app_id: str | None = None,
        conversation_id: str | None = None,
        duplicate: bool = False,
        delay_s: float = 0.0,
    ) -> None:
        fields = {
            "type": "receipt",
            "message_id": message_id,
            "message_state": str(message_state),
            "result_code": str(result_code),
        }
        if app_id is not None:
            fields["app_id"] = app_id
        if conversation_id is not None:
            fields["conversation_id"] = conversation_id
        for _ in range(2 if duplicate else 1):
            self._spawn(self._deliver(site, fields, delay_s))

    async def callbacks_idle(self, timeout_s: float = 30.0) -> None:
        """Wait until every callback has been delivered or has given up."""
        end = time.monotonic() + timeout_s
        while self._callbacks and time.monotonic() < end:
            await asyncio.wait(set(self._callbacks), timeout=max(0.0, end - time.monotonic()))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._callbacks.add(task)
        task.add_done_callback(self._callbacks.discard)

    async def _deliver(self, site: str, fields: dict[str, str], delay_s: float) -> None:
        if delay_s:
            await asyncio.sleep(delay_s)
        if self.callback_url is None or self._client is None:
            raise RuntimeError("no callback_url set on the simulator")
        if self.callback_json:
            body = json.dumps(fields).encode()
            content_type = "application/json"
        else:
            body = urlencode(fields).encode()
            content_type = "application/x-www-form-urlencoded"
        headers = {"content-type": content_type, "x-aggregator-site": site}
        if self.callback_headers is not None:
            headers.update(self.callback_headers(body))
        for _ in range(self.callback_attempts):
            status: int | None = None
            error: str | None = None
            try:
                response = await self._client.post(self.callback_url, content=body, headers=headers)
                status = response.status_code
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            self.callback_attempts_log.append(
                CallbackAttempt(
                    site, fields["type"], fields["message_id"], status, error, time.time()
                )
            )
            if status is not None and 200 <= status < 300:
                return
            await asyncio.sleep(self.callback_retry_delay_s)
