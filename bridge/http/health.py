"""Per-site health: a circuit breaker with hysteresis.

closed     the site takes traffic.
open       the site failed ``failures_to_open`` messages in a row: traffic goes elsewhere
           until ``probe_interval_s`` has passed.
half-open  one message at a time probes the site; ``successes_to_close`` successes in a
           row close it again, one failure opens it for another interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass
class SiteHealth:
    name: str
    failures_to_open: int = 2
    successes_to_close: int = 2
    probe_interval_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    state: BreakerState = BreakerState.CLOSED
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    opened_at: float = 0.0
    probing: bool = False
    transitions: list[tuple[float, BreakerState]] = field(default_factory=list)

    def available(self) -> bool:
        """May a message be sent here now? Claims the probe slot when half-open."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if self.clock() - self.opened_at < self.probe_interval_s:
                return False
            self._move(BreakerState.HALF_OPEN)
        if self.probing:
            return False
        self.probing = True
        return True

    @property
    def healthy(self) -> bool:
        return self.state is BreakerState.CLOSED

    def succeeded(self) -> None:
        self.consecutive_failures = 0
        self.probing = False
        if self.state is BreakerState.HALF_OPEN:
            self.consecutive_successes += 1
            if self.consecutive_successes >= self.successes_to_close:
                self._move(BreakerState.CLOSED)

    def failed(self) -> None:
        self.consecutive_successes = 0
        self.probing = False
        self.consecutive_failures += 1
        if self.state is BreakerState.HALF_OPEN or (
            self.state is BreakerState.CLOSED and self.consecutive_failures >= self.failures_to_open
        ):
            self.opened_at = self.clock()
            self._move(BreakerState.OPEN)

    def released(self) -> None:
        """A probe that ended without a verdict (e.g. the message was rejected)."""
        self.probing = False

    def _move(self, state: BreakerState) -> None:
        self.state = state
        self.consecutive_successes = 0
        self.transitions.append((self.clock(), state))
