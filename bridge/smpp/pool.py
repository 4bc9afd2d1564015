"""The bind pool: transceiver binds held open to every SMSC of every site at once.

Each bind is a small state machine: connecting -> bound -> (dropped) -> backing off ->
connecting ... Two bind attempts of one slot are always at least ``rebind_interval_s``
apart, plus jitter (the aggregator asks for more than 30 s).

A message goes to a bound session with window room, the least loaded first; all parts of
a long message go over that one bind. When no bind is bound, ``submit`` answers
``NoActiveBind`` at once: nothing is ever queued for an inactive bind. A bind that drops
resolves its in-flight submits as UNKNOWN (the session does) and takes no new ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from bridge.smpp import pdu as p
from bridge.smpp.session import (
    BindRejected,
    InboundHandler,
    ResultKind,
    SessionClosed,
    SessionSettings,
    SmppSession,
    SubmitResult,
)

log = logging.getLogger(__name__)


class BindState(StrEnum):
    CONNECTING = "connecting"
    BOUND = "bound"
    BACKING_OFF = "backing-off"
    STOPPED = "stopped"


class NoActiveBind(Exception):
    """No bind is up right now: the caller routes elsewhere or pauses. Nothing was sent."""


@dataclass(frozen=True, slots=True)
class BindTarget:
    site: str
    smsc: str
    settings: SessionSettings
    rebind_interval_s: float = 35.0
    rebind_jitter_s: float = 5.0


@dataclass
class BindSlot:
    """One bind of one SMSC, kept up by its own task."""

    target: BindTarget
    index: int
    state: BindState = BindState.CONNECTING
    session: SmppSession | None = None
    attempts: int = 0
    last_attempt_at: float = 0.0
    last_error: str = ""
    attempt_times: list[float] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.target.site}/{self.target.smsc}/{self.index}"

    def usable(self) -> bool:
        return self.state is BindState.BOUND and self.session is not None and self.session.bound


@dataclass(frozen=True, slots=True)
class PartsResult:
    """The result of each part of one message, and the bind they all went over."""

    bind: str
    site: str
    smsc: str
    results: tuple[SubmitResult, ...]


class BindPool:
    def __init__(
        self, targets: Sequence[BindTarget], binds_per_smsc: dict[str, int], handler: InboundHandler
    ) -> None:
        self._handler = handler
        self.slots = [
            BindSlot(target, i)
            for target in targets
            for i in range(binds_per_smsc.get(target.smsc, 1))
        ]
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._changed = asyncio.Event()
        self._turn = 0

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        for slot in self.slots:
            self._tasks.append(asyncio.create_task(self._keep_bound(slot), name=slot.name))

    async def wait_bound(self, count: int | None = None, timeout_s: float = 30.0) -> int:
        """Wait until ``count`` binds (all, by default) are bound; returns how many are."""
        wanted = len(self.slots) if count is None else count
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while self.bound_count() < wanted:
                    self._changed.clear()
                    await self._changed.wait()
        return self.bound_count()

    async def stop(self, deadline_s: float = 10.0) -> None:
        """No new submits; outstanding ones get up to ``deadline_s``; every bind unbinds."""
        self._stopping = True
        sessions = [s.session for s in self.slots if s.session is not None]
        await asyncio.gather(*(s.unbind(deadline_s) for s in sessions), return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for slot in self.slots:
            slot.state = BindState.STOPPED

    async def _keep_bound(self, slot: BindSlot) -> None:
        target = slot.target
        while not self._stopping:
            # Attempts at least rebind_interval_s apart, measured start to start.
            wait = slot.last_attempt_at + target.rebind_interval_s - time.monotonic()
            if slot.attempts and wait > 0:
                slot.state = BindState.BACKING_OFF
                self._changed.set()
                await asyncio.sleep(wait + random.uniform(0, target.rebind_jitter_s))
            slot.state = BindState.CONNECTING
            slot.attempts += 1
            slot.last_attempt_at = time.monotonic()
            slot.attempt_times.append(slot.last_attempt_at)
            session = SmppSession(target.settings, self._handler, name=slot.name)
            try:
                await session.open()
            except BindRejected as exc:
                slot.last_error = str(exc)
                log.warning("bind %s rejected: %s", slot.name, exc)
                continue
            except (OSError, TimeoutError, SessionClosed) as exc:
                slot.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("bind %s failed: %s", slot.name, slot.last_error)
                continue
            slot.session = session
            slot.state = BindState.BOUND
            slot.last_error = ""
            self._changed.set()
            log.info("bind %s bound", slot.name)
            await session.closed.wait()
            slot.last_error = session.close_reason
            slot.session = None
            self._changed.set()
            if not self._stopping:
                log.warning("bind %s lost: %s", slot.name, session.close_reason)

    # --- state ---------------------------------------------------------------------------

    def bound_count(self) -> int:
        return sum(1 for slot in self.slots if slot.usable())

    def any_bound(self) -> bool:
        return any(slot.usable() for slot in self.slots)

    def snapshot(self) -> list[dict[str, object]]:
        """Per-bind state and counters, for health and metrics."""
        return [
            {
                "bind": slot.name,
                "site": slot.target.site,
                "smsc": slot.target.smsc,
                "state": slot.state.value,
                "outstanding": slot.session.outstanding if slot.session else 0,
                "attempts": slot.attempts,
                "last_error": slot.last_error,
                "counters": dict(slot.session.counters) if slot.session else {},
            }
            for slot in self.slots
        ]

    # --- submitting ----------------------------------------------------------------------

    def _choose(self) -> BindSlot | None:
        usable = [slot for slot in self.slots if slot.usable()]
        if not usable:
            return None
        with_room = [s for s in usable if s.session is not None and s.session.has_room()]
        candidates = with_room or usable
        # Least outstanding first; ties rotate, so idle binds of every site share the load.
        self._turn += 1
        start = self._turn % len(candidates)
        rotated = candidates[start:] + candidates[:start]
        return min(rotated, key=lambda s: s.session.outstanding if s.session else 0)

    async def submit(self, parts: Sequence[p.SubmitSm], deadline_s: float = 30.0) -> PartsResult:
        """Send every part of one message over one bind; raises NoActiveBind at once if none."""
        if self._stopping:
            raise NoActiveBind("the pool is stopping")
        slot = self._choose()
        if slot is None or slot.session is None:
            raise NoActiveBind("no SMPP bind is bound")
        session = slot.session
        results: list[SubmitResult] = []
        async with asyncio.timeout(deadline_s):
            for index, part in enumerate(parts):
                try:
                    result = await session.submit(part)
                except SessionClosed as closed:
                    if index == 0:
                        # Nothing of this message went out: another bind may take it whole.
                        return await self._resubmit_elsewhere(parts, deadline_s, slot)
                    result = SubmitResult(
                        ResultKind.ERROR, reason=f"bind lost mid-message: {closed}"
                    )
                results.append(result)
                if result.kind is not ResultKind.OK:
                    # A part that failed: the rest would be an unreadable fragment.
                    results += [
                        SubmitResult(ResultKind.ERROR, reason="an earlier part failed")
                        for _ in parts[index + 1 :]
                    ]
                    break
        return PartsResult(slot.name, slot.target.site, slot.target.smsc, tuple(results))

    async def _resubmit_elsewhere(
        self, parts: Sequence[p.SubmitSm], deadline_s: float, failed: BindSlot
    ) -> PartsResult:
        others = [s for s in self.slots if s is not failed and s.usable()]
        if not others:
            raise NoActiveBind("the chosen bind closed and no other is bound")
        return await self.submit(parts, deadline_s)
