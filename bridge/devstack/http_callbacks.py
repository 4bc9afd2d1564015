"""The simulated aggregator's side of MO and DR callbacks: POSTs to the client's URL.

Used through ``AggregatorSimulator`` (``bridge.devstack.http_sites``), which documents the
API. The body of one callback is built once, so every retry and the deliberate duplicate
carry the same ``message_id`` and the same bytes. Each POST leaves from the sending site's
own loopback address when it has one (127.0.0.2, ...): a receiver sees callbacks come from
several addresses, as from the real service's several IP ranges.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import json
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

__all__ = ["CallbackAttempt", "CallbackPusher", "CallbackSettings", "HeaderHook"]

# Extra headers for one POST, computed from its exact body (an HMAC signature, say).
HeaderHook = Callable[[bytes], Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class CallbackSettings:
    url: str
    json: bool
    retry_delay_s: float
    attempts: int  # POSTs per copy at most, the first one included
    timeout_s: float
    auth: tuple[str, str] | None  # HTTP basic
    headers: HeaderHook | None


@dataclass(frozen=True, slots=True)
class CallbackAttempt:
    """One POST. ``status`` is None when no HTTP answer came; ``error`` then says why."""

    site: str
    kind: str  # "MO" or "receipt"
    message_id: str
    status: int | None
    error: str | None
    at: float  # time.time() when the POST started
    copy: int = 0  # 1 for the deliberate duplicate
    attempt: int = 1  # 1-based, per copy
    answer: str = ""  # the response body
    body: bytes = b""  # what was POSTed

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _local_address(host: str) -> str | None:
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return None
    return str(addr) if addr.version == 4 and addr.is_loopback else None


class CallbackPusher:
    """Delivers callbacks in background tasks, with retries; one HTTP client per site."""

    def __init__(self, site_hosts: Mapping[str, str]) -> None:
        self._hosts = dict(site_hosts)
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.log: list[CallbackAttempt] = []

    def _client(self, site: str) -> httpx.AsyncClient:
        client = self._clients.get(site)
        if client is None:
            transport = httpx.AsyncHTTPTransport(local_address=_local_address(self._hosts[site]))
            client = httpx.AsyncClient(transport=transport)
            self._clients[site] = client
        return client

    def push(
        self,
        settings: CallbackSettings,
        site: str,
        fields: dict[str, str],
        *,
        duplicate: bool,
        concurrent: bool,
        delay_s: float = 0.0,
    ) -> None:
        if site not in self._hosts:
            raise KeyError(f"unknown site {site!r}")
        self.spawn(self.deliver(settings, site, fields, duplicate, concurrent, delay_s))

    async def deliver(
        self,
        settings: CallbackSettings,
        site: str,
        fields: dict[str, str],
        duplicate: bool = False,
        concurrent: bool = True,
        delay_s: float = 0.0,
    ) -> None:
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        if settings.json:
            body, content_type = json.dumps(fields).encode(), "application/json"
        else:
            body, content_type = urlencode(fields).encode(), "application/x-www-form-urlencoded"
        copies = range(2 if duplicate else 1)
        if concurrent:
            await asyncio.gather(
                *(self._send(settings, site, fields, body, content_type, c) for c in copies)
            )
        else:
            for c in copies:
                await self._send(settings, site, fields, body, content_type, c)

    async def _send(
        self,
        settings: CallbackSettings,
        site: str,
        fields: dict[str, str],
        body: bytes,
        content_type: str,
        copy: int,
    ) -> None:
        client = self._client(site)
        auth = {}
        if settings.auth is not None:
            token = base64.b64encode(":".join(settings.auth).encode()).decode()
            auth = {"authorization": f"Basic {token}"}
        for attempt in range(1, settings.attempts + 1):
            # x-aggregator-site is the simulator's own: the real service sends no such header.
            headers = {"content-type": content_type, "x-aggregator-site": site, **auth}
            at = time.time()
            status: int | None = None
            error: str | None = None
            answer = ""
            give_up = False
            try:
                if settings.headers is not None:
                    headers.update(settings.headers(body))
                response = await client.post(
                    settings.url, content=body, headers=headers, timeout=settings.timeout_s
                )
                status, answer = response.status_code, response.text
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            except Exception as exc:
                # A broken header hook or URL: into the log, where a test sees it, not lost
                # with the background task. Retrying would fail the same way.
                error, give_up = f"{type(exc).__name__}: {exc}", True
            done = CallbackAttempt(
                site,
                fields["type"],
                fields["message_id"],
                status,
                error,
                at,
                copy=copy,
                attempt=attempt,
                answer=answer,
                body=body,
            )
            self.log.append(done)
            if done.ok or give_up:
                return
            if attempt < settings.attempts:
                await asyncio.sleep(settings.retry_delay_s)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self, timeout_s: float) -> bool:
        """Waits for every background delivery; False if some are still running at the end."""
        deadline = time.monotonic() + timeout_s
        while self._tasks:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.wait(list(self._tasks), timeout=left)
        return True

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
