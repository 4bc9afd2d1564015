"""One SMPP 3.4 transceiver session (one bind) over asyncio.

- ``open`` connects (TLS optional) and binds within ``bind_timeout_s``; a rejected bind
  raises ``BindRejected`` with the SMSC's command_status.
- ``submit`` sends one submit_sm within the window and returns its ``SubmitResult``:
  the message id, or the error status as a number (vendor statuses included), or
  ``UNKNOWN`` when no response came (timeout or a dropped connection): the message may
  have been sent, so it is never reported as failed.
- ESME_RTHROTTLED / ESME_RMSGQFUL pause the session for ``throttle_backoff_s`` and come
  back as ``RETRY``; an optional TPS limit spaces submits.
- Inbound deliver_sm / data_sm go to the handler, several at a time; the response is sent
  only after the handler returns: ESME_ROK when it stored the event, ESME_RX_T_APPN when
  it could not, so the SMSC delivers again. Nothing acknowledged is lost here.
- enquire_link when idle (a missing answer closes the session); the SMSC's enquire_link
  and unbind are answered; unknown commands get generic_nack; a malformed PDU gets
  generic_nack when the stream is still in sync, and closes the session when it is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from bridge.smpp import pdu as p
from bridge.smpp.codec import Framer, PduDecodeError, encode
from bridge.smpp.constants import CommandStatus

log = logging.getLogger(__name__)

InboundHandler = Callable[["SmppSession", p.DeliverSm | p.DataSm], Awaitable[bool]]
"""Stores an inbound PDU durably; returns True when stored (False or raising: not stored)."""

RETRYABLE_STATUSES = {CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL}


class ResultKind(StrEnum):
    OK = "ok"  # submit_sm_resp with ESME_ROK: the message id is known
    ERROR = "error"  # the SMSC refused it: command_status says why
    RETRY = "retry"  # throttled / queue full: not taken, send again later
    UNKNOWN = "unknown"  # no answer: it may have been sent


@dataclass(frozen=True, slots=True)
class SubmitResult:
    kind: ResultKind
    message_id: str | None = None
    status: int | None = None
    reason: str = ""


class SessionState(StrEnum):
    CONNECTING = "connecting"
    BOUND = "bound"
    UNBINDING = "unbinding"
    CLOSED = "closed"


class BindRejected(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"bind rejected: {CommandStatus.describe(status)}")
        self.status = status


class SessionClosed(Exception):
    """The session is not bound: nothing was sent."""


@dataclass(frozen=True, slots=True)
class SessionSettings:
    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    window: int = 50
    bind_timeout_s: float = 10.0
    response_timeout_s: float = 30.0
    enquire_link_interval_s: float = 30.0
    throttle_backoff_s: float = 1.0
    max_tps: float | None = None
    inbound_concurrency: int = 32
    tls: ssl.SSLContext | None = None
    tls_server_hostname: str | None = None


class SmppSession:
    def __init__(self, settings: SessionSettings, handler: InboundHandler, name: str = "") -> None:
        self.settings = settings
        self.name = name or f"{settings.host}:{settings.port}"
        self._handler = handler
        self.state = SessionState.CONNECTING
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._framer = Framer()
        self._sequence = 0
        self._pending: dict[int, asyncio.Future[p.Pdu]] = {}
        self._submits = 0  # outstanding submit_sm (the window counts these)
        self._room = asyncio.Event()
        self._room.set()
        self._paused_until = 0.0
        self._next_send_at = 0.0
        self._last_activity = time.monotonic()
        self._inbound = asyncio.Semaphore(settings.inbound_concurrency)
        self._inbound_tasks: set[asyncio.Task[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self.closed = asyncio.Event()
        self.close_reason = ""
        self.counters: dict[str, int] = {}

    # --- lifecycle -----------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and bind as a transceiver; raises BindRejected, OSError or TimeoutError."""
        s = self.settings
        try:
            async with asyncio.timeout(s.bind_timeout_s):
                self._reader, self._writer = await asyncio.open_connection(
                    s.host,
                    s.port,
                    ssl=s.tls,
                    server_hostname=(s.tls_server_hostname or s.host) if s.tls else None,
                )
                self._tasks.append(asyncio.create_task(self._read_loop(), name=f"{self.name}-rx"))
                response = await self._request(
                    p.BindTransceiver(
                        system_id=s.system_id,
                        password=s.password,
                        system_type=s.system_type,
                        interface_version=0x34,
                    )
                )
        except BaseException:
            await self._close("bind failed")
            raise
        if response.command_status != CommandStatus.ESME_ROK:
            await self._close("bind rejected")
            raise BindRejected(response.command_status)
        self.state = SessionState.BOUND
        self._tasks.append(asyncio.create_task(self._keepalive(), name=f"{self.name}-ka"))

    async def unbind(self, deadline_s: float = 5.0) -> None:
        """Stop taking submits, wait for outstanding ones up to the deadline, unbind."""
        if self.state is not SessionState.BOUND:
            await self._close("closed")
            return
        self.state = SessionState.UNBINDING
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(deadline_s):
                while self._submits:
                    self._room.clear()
                    await self._room.wait()
                await self._request(p.Unbind())
        await self._close("unbound")

    async def _close(self, reason: str) -> None:
        if self.state is SessionState.CLOSED:
            return
        self.state = SessionState.CLOSED
        self.close_reason = self.close_reason or reason
        for future in self._pending.values():
            if not future.done():
                future.set_exception(SessionClosed(reason))
        self._pending.clear()
        self._room.set()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._writer.wait_closed(), 2)
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        self.closed.set()
        log.info("smpp %s closed: %s", self.name, self.close_reason)

    # --- submitting ----------------------------------------------------------------------

    @property
    def bound(self) -> bool:
        return self.state is SessionState.BOUND

    @property
    def outstanding(self) -> int:
        return self._submits

    def has_room(self) -> bool:
        """Bound, window not full, not paused by throttling."""
        return (
            self.state is SessionState.BOUND
            and self._submits < self.settings.window
            and time.monotonic() >= self._paused_until
        )

    async def wait_room(self) -> None:
        """Wait until a submit could go out now (or the session closes)."""
        while not self.has_room() and self.state is SessionState.BOUND:
            pause = self._paused_until - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
                continue
            self._room.clear()
            await self._room.wait()

    async def submit(self, submit_sm: p.SubmitSm) -> SubmitResult:
        await self.wait_room()
        if self.state is not SessionState.BOUND:
            raise SessionClosed(self.close_reason or "not bound")
        await self._pace()
        self._submits += 1
        try:
            response = await self._request(submit_sm, self.settings.response_timeout_s)
        except TimeoutError:
            self._count("unknown")
            return SubmitResult(ResultKind.UNKNOWN, reason="no submit_sm_resp in time")
        except SessionClosed as closed:
            self._count("unknown")
            return SubmitResult(ResultKind.UNKNOWN, reason=f"connection lost: {closed}")
        finally:
            self._submits -= 1
            self._room.set()
        status = response.command_status
        if status == CommandStatus.ESME_ROK and isinstance(response, p.SubmitSmResp):
            self._count("ok")
            return SubmitResult(ResultKind.OK, message_id=response.message_id, status=0)
        if status in RETRYABLE_STATUSES:
            self._paused_until = time.monotonic() + self.settings.throttle_backoff_s
            self._count("throttled")
            return SubmitResult(
                ResultKind.RETRY, status=status, reason=CommandStatus.describe(status)
            )
        self._count("error")
        return SubmitResult(ResultKind.ERROR, status=status, reason=CommandStatus.describe(status))

    async def _pace(self) -> None:
        if self.settings.max_tps is None:
            return
        now = time.monotonic()
        wait = self._next_send_at - now
        self._next_send_at = max(now, self._next_send_at) + 1.0 / self.settings.max_tps
        if wait > 0:
            await asyncio.sleep(wait)

    def _count(self, what: str) -> None:
        self.counters[what] = self.counters.get(what, 0) + 1

    # --- the wire ------------------------------------------------------------------------

    def _next_sequence(self) -> int:
        self._sequence = self._sequence % 0x7FFFFFFF + 1
        return self._sequence

    async def _request(self, pdu: p.Pdu, timeout_s: float | None = None) -> p.Pdu:
        if self._writer is None or self.state is SessionState.CLOSED:
            raise SessionClosed(self.close_reason or "not connected")
        pdu.sequence_number = self._next_sequence()
        future: asyncio.Future[p.Pdu] = asyncio.get_running_loop().create_future()
        self._pending[pdu.sequence_number] = future
        self._send(pdu)
        try:
            if timeout_s is None:
                return await future
            async with asyncio.timeout(timeout_s):
                return await future
        finally:
            self._pending.pop(pdu.sequence_number, None)

    def _send(self, pdu: p.Pdu) -> None:
        if self._writer is None or self._writer.is_closing():
            raise SessionClosed(self.close_reason or "connection closing")
        self._writer.write(encode(pdu))
        self._last_activity = time.monotonic()

    async def _read_loop(self) -> None:
        assert self._reader is not None
        reason = "connection closed by the SMSC"
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    break
                self._last_activity = time.monotonic()
                for item in self._framer.feed(data):
                    if isinstance(item, PduDecodeError):
                        if not self._on_decode_error(item):
                            reason = f"stream out of sync: {item}"
                            return
                    else:
                        self._dispatch(item)
        except (ConnectionError, OSError) as exc:
            reason = f"connection error: {exc}"
        finally:
            self.close_reason = self.close_reason or reason
            asyncio.get_running_loop().create_task(self._close(reason))

    def _on_decode_error(self, error: PduDecodeError) -> bool:
        log.warning("smpp %s: malformed PDU: %s", self.name, error)
        self._count("malformed")
        if not error.in_sync:
            return False
        if error.sequence_number is not None and not error.is_response:
            self._send(
                p.GenericNack(command_status=error.status, sequence_number=error.sequence_number)
            )
        elif error.sequence_number is not None:
            # A response we cannot read: its request's outcome is unknown, as on a timeout.
            future = self._pending.get(error.sequence_number)
            if future is not None and not future.done():
                future.set_exception(SessionClosed(f"unreadable response: {error}"))
        return True

    def _dispatch(self, pdu: p.Pdu) -> None:
        if pdu.is_response or isinstance(pdu, p.GenericNack):
            future = self._pending.get(pdu.sequence_number)
            if future is not None and not future.done():
                future.set_result(pdu)
            return
        if isinstance(pdu, (p.DeliverSm, p.DataSm)):
            task = asyncio.get_running_loop().create_task(self._inbound_pdu(pdu))
            self._inbound_tasks.add(task)
            task.add_done_callback(self._inbound_tasks.discard)
        elif isinstance(pdu, p.EnquireLink):
            self._send(p.EnquireLinkResp(sequence_number=pdu.sequence_number))
        elif isinstance(pdu, p.Unbind):
            self._send(p.UnbindResp(sequence_number=pdu.sequence_number))
            self.close_reason = "unbound by the SMSC"
            asyncio.get_running_loop().create_task(self._close("unbound by the SMSC"))
        else:
            self._send(
                p.GenericNack(
                    command_status=CommandStatus.ESME_RINVCMDID,
                    sequence_number=pdu.sequence_number,
                )
            )

    async def _inbound_pdu(self, pdu: p.DeliverSm | p.DataSm) -> None:
        async with self._inbound:
            try:
                stored = await self._handler(self, pdu)
            except Exception:
                log.exception("smpp %s: inbound handler failed", self.name)
                stored = False
        status = CommandStatus.ESME_ROK if stored else CommandStatus.ESME_RX_T_APPN
        self._count("inbound_ok" if stored else "inbound_tempfail")
        response: p.Pdu = (
            p.DeliverSmResp(command_status=status, sequence_number=pdu.sequence_number)
            if isinstance(pdu, p.DeliverSm)
            else p.DataSmResp(command_status=status, sequence_number=pdu.sequence_number)
        )
        with contextlib.suppress(SessionClosed):
            self._send(response)

    async def _keepalive(self) -> None:
        interval = self.settings.enquire_link_interval_s
        while self.state is SessionState.BOUND:
            idle = time.monotonic() - self._last_activity
            if idle < interval:
                await asyncio.sleep(interval - idle)
                continue
            try:
                await self._request(p.EnquireLink(), self.settings.response_timeout_s)
            except (TimeoutError, SessionClosed):
                self.close_reason = "enquire_link unanswered"
                await self._close("enquire_link unanswered")
                return
