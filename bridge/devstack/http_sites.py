"""A simulated multi-site SMS aggregator HTTP API, for tests and the demo.

Each site ("dc3" and "bos" by default) is a real HTTP server on loopback, run by uvicorn as
a task in the caller's event loop, all sites sharing one store of accepted message ids::

    async with AggregatorSimulator(login="acme", password="secret") as sim:
        sim.site("dc3").url                  # http://127.0.0.1:<port>/httpapi/receiver
        sim.site("dc3").timeout()            # a fault, from the next request on
        ...
        sim.received("dc3")                  # what that site was sent, and what it answered

Sending an MT
-------------
``GET`` or ``POST`` ``/httpapi/receiver``, parameters URL-encoded UTF-8 in the query string,
the form body or both. Required: login, password, phone_number (international: digits, no
``+``), sender, message, message_id. Optional: receipt (TRUE/FALSE), app_id,
conversation_id, priority (BULK_LOW, BULK, INTERACTIVE_LOW, INTERACTIVE), carrier.

The answer is HTTP 200, ``text/plain``, body ``<code>[ <text>]``: the decimal result code,
then optionally one space and free text. This simulator always adds the text, e.g.
``0 accepted``, ``7 duplicate message id``, ``1 missing parameter: sender``.

====  =====================================================================
code  meaning, checked in this order
====  =====================================================================
2     authentication failed: login/password missing or wrong
1     missing or invalid parameter (also: parameters not valid UTF-8)
4     invalid sender: neither 1-15 digits nor 1-11 letters/digits/spaces
5     sender not approved (only when ``approved_senders`` is given)
3     unknown carrier (only when ``carriers`` is given)
7     duplicate message id: already accepted by ANY site (one shared store)
0     accepted
6     throttled, 98 internal error, 99 other: only through ``force_code``
====  =====================================================================

Faults, per site, effective for requests that arrive afterwards
---------------------------------------------------------------
``timeout(hold_s=None, accept=False)``: hold each request ``hold_s`` seconds (None: until
``release()`` or ``normal()``), then close the connection without ever answering.
``http_error(status=503, accept=False)``: answer that HTTP status (body: its reason).
``force_code(code, times=None, text=None, accept=False)``: the next ``times`` requests
(None: every request) are answered ``code``; calls queue up.
``latency_s``: seconds to wait before handling each request (adds to the above).
``await refuse()``: really close the listening socket (connects get ECONNREFUSED; open
connections are aborted, held requests dropped). ``normal()`` clears every fault and
releases held requests; ``await restore()`` is ``normal()`` and listening again on the same
address and port.

``accept=True`` makes the site take the message as usual (stored when valid) although the
client gets no answer, an error status or a forced code: the "did it go through?" case.
Without it such a request changes nothing.

DNS mode: ``AggregatorSimulator(hosts=("127.0.0.2", "127.0.0.3"), port=free_port())`` puts
every site on its own loopback address and one port, so a test that maps one hostname to an
address (e.g. a patched ``socket.getaddrinfo``) switches sites by changing only the address.
Linux routes all of 127.0.0.0/8 to loopback. ``free_port`` picks below the ephemeral range,
so no outgoing connection takes the port while a site is refusing.

Records
-------
``received(site=None, message_id=None)``: every request in arrival order, as ``Received``
(site, wall time, method, all parameters including credentials, headers, and the answer:
``status``/``body``/``code``, None when never answered; ``stored``: this request put its
message_id in the store). ``accepted_ids()``: message_id -> site that accepted it.
``attempts_per_message()``: requests received per message_id.

Callbacks: MOs and DRs pushed to the client
-------------------------------------------
Settings are attributes, read when a callback is pushed: ``callback_url``,
``callback_json`` (form-encoded unless True), ``callback_retry_delay_s``,
``callback_attempts`` (POSTs per copy at most), ``callback_timeout_s``, ``callback_auth``
(basic: (user, password)), ``callback_headers`` (``body -> headers``, per POST: an HMAC).

``push_mo(site, phone_number=, shortcode=, message=, ...) -> message_id`` and
``push_dr(site, message_id, message_state, ...)`` return at once; delivery runs in the
background and ``await callbacks_idle()`` waits for it. A non-2xx answer or a network error
is retried with the same body after ``callback_retry_delay_s``. ``duplicate=True`` delivers
a second copy on purpose, at the same time unless ``concurrent=False`` (then after the
first). DR fields: type=receipt, message_id, message_state (1..8), result_code, app_id,
conversation_id (the last two left out when unknown; by default the accepted MT's). MO
fields: type=MO, message_id, shortcode, phone_number, carrier, message. All values are
strings, in JSON too. Each POST comes from the site's bind address and carries an
``x-aggregator-site`` header (the simulator's, for assertions). ``callback_attempts_log``
lists every POST with its answer.

Auto-DRs: with ``auto_dr_states = [6, 2]``, every MT accepted with receipt=TRUE gets those
DRs, in that order, ``auto_dr_delay_s`` apart, from the MT's site (``auto_dr_via =
"same"``), the next site (``"other"``) or a site named there.

Run for the demo: ``python -m bridge.devstack.http_sites [--callback-url URL] [--auto-dr]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import re
import signal
import time
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from bridge.devstack.http_callbacks import (
    CallbackAttempt,
    CallbackPusher,
    CallbackSettings,
    HeaderHook,
)
from bridge.devstack.loopback_server import LoopbackServer, pick_port

__all__ = [
    "PATH",
    "REASONS",
    "AggregatorSimulator",
    "CallbackAttempt",
    "Received",
    "Site",
    "free_port",
]

PATH = "/httpapi/receiver"
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
REQUIRED = ("login", "password", "phone_number", "sender", "message", "message_id")
PRIORITIES = frozenset({"BULK_LOW", "BULK", "INTERACTIVE_LOW", "INTERACTIVE"})
_PHONE = re.compile(r"[1-9][0-9]{5,14}")
_SENDER = re.compile(r"[0-9]{1,15}|(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")


def free_port(host: str = "127.0.0.1") -> int:
    """A free port on ``host``, outside the ephemeral range (see the module docstring)."""
    return pick_port([host])


def _result(code: int, text: str | None = None) -> str:
    return f"{code} {text if text is not None else REASONS.get(code, 'other')}"


@dataclass(slots=True)
class Received:
    """One request as a site received it, and what it answered."""

    site: str
    at: float  # time.time() on arrival
    method: str
    params: dict[str, str]
    status: int | None = None  # HTTP status answered; None: never answered
    code: int | None = None  # result code answered (HTTP 200 answers only)
    body: str | None = None  # answer body
    stored: bool = False  # this request put its message_id in the shared store
    headers: dict[str, str] | None = None

    @property
    def message_id(self) -> str | None:
        return self.params.get("message_id")


@dataclass(frozen=True, slots=True)
class _Fault:
    kind: Literal["normal", "timeout", "http_error"] = "normal"
    hold_s: float | None = None
    status: int = 503
    accept: bool = False


@dataclass(slots=True)
class _Forced:
    code: int
    text: str | None
    left: int | None  # None: for ever
    accept: bool


class _InFlight:
    """A request being handled, woken early when its site goes down or holds are released."""

    __slots__ = ("client", "dropped", "wake")

    def __init__(self, client: Any) -> None:
        self.client = client
        self.wake = asyncio.Event()
        self.dropped = False

    async def pause(self, seconds: float | None) -> bool:
        """Waits ``seconds`` (None: until woken); False if the site went down meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)
        return not self.dropped


class _NoAnswer(Response):
    """Sends nothing: the connection has been aborted."""

    def __init__(self) -> None:
        super().__init__()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Lets the abort's connection_lost run first, so uvicorn sees the peer gone and
        # does not write a 500 of its own.
        await asyncio.sleep(0)
        await asyncio.sleep(0)


async def _read_params(request: Request) -> tuple[dict[str, str], str | None]:
    raws = [request.scope.get("query_string", b"")]
    if request.method == "POST":
        raws.append(await request.body())
    params: dict[str, str] = {}
    problem = None
    for raw in raws:
        try:
            pairs = parse_qsl(raw.decode(), keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            problem = "invalid parameters: not URL-encoded UTF-8"
            pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True, errors="replace")
        params.update(pairs)
    return params, problem


class Site:
    """One site: its server, its faults (see the module docstring)."""

    def __init__(self, sim: AggregatorSimulator, name: str, host: str, port: int) -> None:
        self.sim = sim
        self.name = name
        self.latency_s = 0.0
        app = Starlette(routes=[Route(PATH, self._receive, methods=["GET", "POST"])])
        self._server = LoopbackServer(app, host, port)
        self._fault = _Fault()
        self._forced: list[_Forced] = []
        self._inflight: set[_InFlight] = set()
        self._held: set[_InFlight] = set()

    def __repr__(self) -> str:
        return f"<Site {self.name} {self.url} listening={self.listening}>"

    @property
    def host(self) -> str:
        return self._server.host

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        return self._server.base_url + PATH

    @property
    def listening(self) -> bool:
        return self._server.listening

    # --- faults --------------------------------------------------------------------------

    def timeout(self, hold_s: float | None = None, *, accept: bool = False) -> None:
        """Hold every request unanswered: ``hold_s`` seconds (None: until released), then
        close the connection. ``accept=True``: the message is taken, only the answer is lost.
        """
        self._fault = _Fault("timeout", hold_s=hold_s, accept=accept)

    def release(self) -> int:
        """Ends the hold of the requests held now (still unanswered); returns how many."""
        held = list(self._held)
        for flight in held:
            flight.wake.set()
        return len(held)

    def http_error(self, status: int = 503, *, accept: bool = False) -> None:
        self._fault = _Fault("http_error", status=status, accept=accept)

    def force_code(
        self,
        code: int,
        times: int | None = None,
        *,
        text: str | None = None,
        accept: bool = False,
    ) -> None:
        """The next ``times`` answers (every answer when None) carry ``code``."""
        self._forced.append(_Forced(code, text, times, accept))

    def normal(self) -> None:
        self._fault = _Fault()
        self._forced.clear()
        self.latency_s = 0.0
        self.release()

    async def refuse(self) -> None:
        """Stop listening: connecting now fails with connection refused."""
        for flight in self._inflight:
            flight.dropped = True
            flight.wake.set()
        await self._server.stop()

    async def restore(self) -> None:
        """No fault, and listening again on the same address and port."""
        self.normal()
        await self._server.start()

    # --- serving -------------------------------------------------------------------------

    async def _receive(self, request: Request) -> Response:
        params, problem = await _read_params(request)
        rec = Received(
            self.name, time.time(), request.method, params, headers=dict(request.headers)
        )
        self.sim._received.append(rec)
        flight = _InFlight(request.scope.get("client"))
        self._inflight.add(flight)
        try:
            return await self._respond(rec, flight, problem)
        finally:
            self._inflight.discard(flight)
            self._held.discard(flight)

    async def _respond(self, rec: Received, flight: _InFlight, problem: str | None) -> Response:
        if self.latency_s > 0 and not await flight.pause(self.latency_s):
            return self._no_answer(flight)
        fault, forced = self._fault, None
        if fault.kind == "normal":
            forced = self._take_forced()
            accept = forced is None or forced.accept
        else:
            accept = fault.accept
        code, text = self.sim._process(self, rec, problem) if accept else (0, "")
        if fault.kind == "timeout":
            self._held.add(flight)
            await flight.pause(fault.hold_s)
            return self._no_answer(flight)
        if fault.kind == "http_error":
            try:
                phrase = HTTPStatus(fault.status).phrase
            except ValueError:
                phrase = "error"
            return self._reply(rec, fault.status, phrase)
        if forced is not None:
            code, text = forced.code, _result(forced.code, forced.text)
        rec.code = code
        return self._reply(rec, 200, text)

    def _take_forced(self) -> _Forced | None:
        if not self._forced:
            return None
        forced = self._forced[0]
        if forced.left is not None:
            forced.left -= 1
            if forced.left <= 0:
                self._forced.pop(0)
        return forced

    def _no_answer(self, flight: _InFlight) -> Response:
        self._server.abort_client(flight.client)
        return _NoAnswer()

    @staticmethod
    def _reply(rec: Received, status: int, body: str) -> Response:
        rec.status, rec.body = status, body
        return PlainTextResponse(body, status_code=status)


class AggregatorSimulator:
    """Several hot sites sharing one store of accepted message ids; see the module doc."""

    def __init__(
        self,
        sites: Sequence[str] = ("dc3", "bos"),
        *,
        login: str = "acme",
        password: str = "secret",
        hosts: Sequence[str] | None = None,
        port: int | None = None,
        approved_senders: Collection[str] | None = None,
        carriers: Collection[str] | None = None,
        callback_url: str | None = None,
        callback_json: bool = False,
        callback_retry_delay_s: float = 0.2,
        callback_attempts: int = 50,
        callback_timeout_s: float = 5.0,
        callback_auth: tuple[str, str] | None = None,
        callback_headers: HeaderHook | None = None,
    ) -> None:
        if not sites or len(set(sites)) != len(sites):
            raise ValueError(f"site names must be distinct, and at least one: {sites!r}")
        hosts = tuple(hosts or ("127.0.0.1",) * len(sites))
        if port is not None and len(set(hosts)) != len(hosts):
            raise ValueError("one port for every site needs a distinct host per site")
        self.login = login
        self.password = password
        self.approved_senders = None if approved_senders is None else frozenset(approved_senders)
        self.carriers = None if carriers is None else frozenset(carriers)
        self.callback_url = callback_url
        self.callback_json = callback_json
        self.callback_retry_delay_s = callback_retry_delay_s
        self.callback_attempts = callback_attempts
        self.callback_timeout_s = callback_timeout_s
        self.callback_auth = callback_auth
        self.callback_headers = callback_headers
        self.auto_dr_states: list[int] = []
        self.auto_dr_via = "same"  # "same", "other" or a site name
        self.auto_dr_delay_s = 0.0
        self._port = port
        self._sites = {
            name: Site(self, name, host, port or 0) for name, host in zip(sites, hosts, strict=True)
        }
        self._received: list[Received] = []
        self._accepted: dict[str, Received] = {}
        self._pusher = CallbackPusher({s.name: s.host for s in self._sites.values()})
        self._mo_ids = itertools.count(1)

    def site(self, name: str) -> Site:
        return self._sites[name]

    @property
    def sites(self) -> list[Site]:
        return list(self._sites.values())

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        try:
            for site in self._sites.values():
                if self._port is None:
                    # A port below the ephemeral range, so refuse() + restore() can rebind it.
                    site._server.port = pick_port([site.host])
                await site._server.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        await self._pusher.aclose()
        for site in self._sites.values():
            await site.refuse()

    async def __aenter__(self) -> AggregatorSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- what it received ----------------------------------------------------------------

    def received(self, site: str | None = None, message_id: str | None = None) -> list[Received]:
        return [
            r
            for r in self._received
            if (site is None or r.site == site)
            and (message_id is None or r.message_id == message_id)
        ]

    def accepted_ids(self) -> dict[str, str]:
        """message_id -> the site that accepted it, in order of acceptance."""
        return {message_id: r.site for message_id, r in self._accepted.items()}

    def attempts_per_message(self) -> Counter[str]:
        return Counter(r.message_id for r in self._received if r.message_id is not None)

    # --- the service ---------------------------------------------------------------------

    def _process(self, site: Site, rec: Received, problem: str | None) -> tuple[int, str]:
        """Validates one MT and stores it when valid; returns (code, answer body)."""
        p = rec.params
        if p.get("login") != self.login or p.get("password") != self.password:
            return 2, _result(2)
        if problem:
            return 1, _result(1, problem)
        missing = [name for name in REQUIRED if not p.get(name)]
        if missing:
            return 1, _result(1, "missing parameter: " + ", ".join(missing))
        if not _PHONE.fullmatch(p["phone_number"]):
            return 1, _result(1, "invalid parameter: phone_number")
        receipt = (p.get("receipt") or "FALSE").upper()
        if receipt not in ("TRUE", "FALSE"):
            return 1, _result(1, "invalid parameter: receipt")
        if p.get("priority") and p["priority"] not in PRIORITIES:
            return 1, _result(1, "invalid parameter: priority")
        if not _SENDER.fullmatch(p["sender"]):
            return 4, _result(4)
        if self.approved_senders is not None and p["sender"] not in self.approved_senders:
            return 5, _result(5)
        if p.get("carrier") and self.carriers is not None and p["carrier"] not in self.carriers:
            return 3, _result(3)
        message_id = p["message_id"]
        if message_id in self._accepted:
            return 7, _result(7)
        # No await between the check and the store: one store for all sites, no race.
        self._accepted[message_id] = rec
        rec.stored = True
        if receipt == "TRUE" and self.auto_dr_states:
            self._pusher.spawn(self._auto_drs(site.name, message_id, list(self.auto_dr_states)))
        return 0, _result(0)

    # --- callbacks -----------------------------------------------------------------------

    @property
    def callback_attempts_log(self) -> list[CallbackAttempt]:
        return self._pusher.log

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
        concurrent: bool = True,
    ) -> str:
        message_id = message_id or f"mo-{next(self._mo_ids)}"
        fields = {
            "type": "MO",
            "message_id": message_id,
            "shortcode": shortcode,
            "phone_number": phone_number,
            "carrier": carrier,
            "message": message,
        }
        self._pusher.push(
            self._callback_settings(), site, fields, duplicate=duplicate, concurrent=concurrent
        )
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
        concurrent: bool = True,
        delay_s: float = 0.0,
    ) -> None:
        self._pusher.push(
            self._callback_settings(),
            site,
            self._dr_fields(message_id, message_state, result_code, app_id, conversation_id),
            duplicate=duplicate,
            concurrent=concurrent,
            delay_s=delay_s,
        )

    async def callbacks_idle(self, timeout_s: float = 30.0) -> bool:
        """Waits until every callback is delivered or has given up; False on timeout."""
        return await self._pusher.idle(timeout_s)

    def _callback_settings(self) -> CallbackSettings:
        if self.callback_url is None:
            raise RuntimeError("no callback_url set on the simulator")
        return CallbackSettings(
            self.callback_url,
            self.callback_json,
            self.callback_retry_delay_s,
            self.callback_attempts,
            self.callback_timeout_s,
            self.callback_auth,
            self.callback_headers,
        )

    def _dr_fields(
        self,
        message_id: str,
        message_state: int,
        result_code: int,
        app_id: str | None,
        conversation_id: str | None,
    ) -> dict[str, str]:
        mt = self._accepted.get(message_id)
        mt_params = mt.params if mt is not None else {}
        fields = {
            "type": "receipt",
            "message_id": message_id,
            "message_state": str(message_state),
            "result_code": str(result_code),
        }
        app_id = app_id if app_id is not None else mt_params.get("app_id")
        conversation_id = (
            conversation_id if conversation_id is not None else mt_params.get("conversation_id")
        )
        if app_id is not None:
            fields["app_id"] = app_id
        if conversation_id is not None:
            fields["conversation_id"] = conversation_id
        return fields

    async def _auto_drs(self, mt_site: str, message_id: str, states: list[int]) -> None:
        names = list(self._sites)
        if self.auto_dr_via == "same":
            via = mt_site
        elif self.auto_dr_via == "other":
            via = names[(names.index(mt_site) + 1) % len(names)]
        else:
            via = self.auto_dr_via
        settings = self._callback_settings()
        for state in states:
            # One after the other, so the DRs leave in the order given.
            fields = self._dr_fields(message_id, state, 0, None, None)
            await self._pusher.deliver(settings, via, fields, delay_s=self.auto_dr_delay_s)


async def _run(args: argparse.Namespace) -> None:
    async with AggregatorSimulator(
        login=args.login, password=args.password, callback_url=args.callback_url
    ) as sim:
        sim.callback_json = args.json
        if args.auto_dr:
            sim.auto_dr_states, sim.auto_dr_via = [6, 2], "other"
        for site in sim.sites:
            print(f"{site.name} {site.url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the simulated aggregator's HTTP sites.")
    parser.add_argument("--login", default="acme")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--callback-url", help="where MOs and DRs are pushed")
    parser.add_argument("--json", action="store_true", help="push callbacks as JSON")
    parser.add_argument("--auto-dr", action="store_true", help="DRs 6 then 2 via the other site")
    args = parser.parse_args(argv)
    if args.auto_dr and not args.callback_url:
        parser.error("--auto-dr needs --callback-url")
    asyncio.run(_run(args))


if __name__ == "__main__":
    main()
