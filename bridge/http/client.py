"""The aggregator's HTTP API client, with failover between sites as the provider asks.

One MT is one ``send``. Its ``message_id`` is the request's idempotency key, the same on
every attempt and at every site, so the service's duplicate detection (code 7) covers
retries and failovers.

Failover (``mode: sites``): sites in configured order, primary first. On a connection
error, a timeout or a retryable answer, the same site is tried once more after
``retry_delay_s``; if the same kind of error comes again, the next site takes the message.
A per-site breaker (``bridge.http.health``) then sends later messages straight to a
healthy site, and lets one message at a time probe the primary until it has recovered.
``mode: dns`` has one URL; the connection pool is renewed every ``dns_ttl_s`` so that a
changed DNS answer is used.

Every message has a total ``budget_s``. An attempt whose request may have reached the
service without an answer makes the message's outcome UNKNOWN unless a later attempt
settles it: never reported as failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_result

from bridge.config.settings import BridgeConfig, FailoverMode, HttpApiConfig
from bridge.http.health import SiteHealth

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # the service already holds this message_id: never resend
    THROTTLED = "throttled"
    REJECTED = "rejected"  # permanent
    RETRYABLE = "retryable"  # did not reach the service, or it says try again
    UNKNOWN = "unknown"  # may have reached the service; no answer


FINAL = {Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.REJECTED}


@dataclass(frozen=True, slots=True)
class MtMessage:
    message_id: str
    phone_number: str  # international, no '+'
    sender: str
    message: str
    receipt: bool = True
    app_id: str | None = None
    conversation_id: str | None = None
    priority: str | None = None
    carrier: str | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    site: str
    outcome: Outcome
    code: int | None
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome  # ACCEPTED, DUPLICATE, REJECTED, UNKNOWN, or RETRYABLE when all failed
    site: str | None
    code: int | None
    reason: str
    attempts: tuple[Attempt, ...] = field(default=())

    @property
    def may_have_been_sent(self) -> bool:
        return self.outcome is Outcome.UNKNOWN


@dataclass
class _Target:
    name: str
    api: HttpApiConfig
    url: str
    health: SiteHealth
    client: httpx.AsyncClient | None = None
    client_born: float = 0.0


def classify(status: int, body: str, codes: dict[int, str]) -> tuple[Outcome, int | None, str]:
    """The outcome of one answer: HTTP status first, then the result code in the body."""
    if status >= 500:
        return Outcome.RETRYABLE, None, f"HTTP {status}"
    if status == 429:
        return Outcome.THROTTLED, None, "HTTP 429"
    if status >= 400:
        return Outcome.REJECTED, None, f"HTTP {status}"
    head, _, text = body.strip().partition(" ")
    if not head.lstrip("-").isdigit():
        # The service answered but not in its format: it may hold the message.
        return Outcome.UNKNOWN, None, f"unreadable answer (HTTP {status})"
    code = int(head)
    outcome = codes.get(code)
    if outcome is None:
        return Outcome.UNKNOWN, code, f"result code {code} is not in the code table"
    return Outcome(outcome), code, text or f"result code {code}"


class AggregatorClient:
    def __init__(
        self,
        config: BridgeConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._failover = config.http_failover
        self._clock = clock
        self._transport = transport
        failover = self._failover
        sites = [s for s in config.sites if s.http is not None]
        if not sites:
            raise ValueError("no site has an http API")
        self._targets: list[_Target] = []
        # Pools renewed in DNS mode: their in-flight requests finish; closed with the client.
        self._retired: list[httpx.AsyncClient] = []
        if failover.mode is FailoverMode.DNS:
            assert failover.dns_url is not None  # checked by the config
            api = sites[0].http
            assert api is not None
            self._targets.append(self._target("global", api, str(failover.dns_url)))
        else:
            for site in sites:
                assert site.http is not None
                for url in site.http.urls:
                    self._targets.append(self._target(site.name, site.http, str(url)))

    def _target(self, name: str, api: HttpApiConfig, url: str) -> _Target:
        health = SiteHealth(
            name,
            failures_to_open=self._failover.failures_to_open,
            successes_to_close=self._failover.successes_to_close,
            probe_interval_s=self._failover.probe_interval_s,
            clock=self._clock,
        )
        return _Target(name, api, url, health)

    @property
    def health(self) -> dict[str, SiteHealth]:
        return {t.name: t.health for t in self._targets}

    def any_available(self) -> bool:
        """True when some site is closed, or open but due for a probe (read-only check)."""
        return any(
            t.health.healthy or self._clock() - t.health.opened_at >= t.health.probe_interval_s
            for t in self._targets
        )

    async def aclose(self) -> None:
        for old in self._retired:
            await old.aclose()
        self._retired.clear()
        for target in self._targets:
            if target.client is not None:
                await target.client.aclose()
                target.client = None

    # --- sending -------------------------------------------------------------------------

    async def send(self, mt: MtMessage, budget_s: float | None = None) -> SendResult:
        deadline = self._clock() + (budget_s if budget_s is not None else self._failover.budget_s)
        attempts: list[Attempt] = []
        tried: set[str] = set()
        while True:
            target = self._pick(tried)
            if target is None:
                break
            tried.add(target.name)
            final = await self._send_to_site(target, mt, deadline, attempts)
            if final is not None:
                return final
            if self._clock() >= deadline:
                break
        return self._unsettled(attempts)

    def _pick(self, tried: set[str]) -> _Target | None:
        """The first site in order that may take a message now; any untried one as last resort."""
        for target in self._targets:
            if target.name not in tried and target.health.available():
                return target
        for target in self._targets:
            if target.name not in tried:
                return target
        return None

    async def _send_to_site(
        self, target: _Target, mt: MtMessage, deadline: float, attempts: list[Attempt]
    ) -> SendResult | None:
        failover = self._failover
        first = len(attempts)

        def delay_after(outcome: Outcome | None) -> float:
            if outcome is Outcome.THROTTLED:
                return failover.throttle_backoff_s
            return failover.retry_delay_s

        def stop(state: RetryCallState) -> bool:
            # The same site fails twice: the next site (the provider's advice). Throttling
            # is not a failure; it only ends with the budget.
            failures = sum(
                1 for a in attempts[first:] if a.outcome not in FINAL | {Outcome.THROTTLED}
            )
            # A probe that failed re-opened the breaker: no second try at that site.
            reopened = not target.health.healthy and failures > 0
            return (
                failures >= 2 or reopened or self._clock() + delay_after(_last(state)) >= deadline
            )

        retrying = AsyncRetrying(
            retry=retry_if_result(lambda outcome: outcome not in FINAL),
            wait=lambda state: delay_after(_last(state)),
            stop=stop,
            retry_error_callback=lambda state: _last(state),
        )
        outcome: Outcome | None = await retrying(self._attempt, target, mt, deadline, attempts)
        last = attempts[-1]
        if outcome in FINAL:
            return SendResult(outcome, target.name, last.code, last.reason, tuple(attempts))
        log.warning("http site %s failed for a message: %s", target.name, last.reason)
        return None

    async def _attempt(
        self, target: _Target, mt: MtMessage, deadline: float, attempts: list[Attempt]
    ) -> Outcome:
        timeout = max(0.001, deadline - self._clock())
        outcome, code, reason = await self._post(target, mt, timeout)
        attempts.append(Attempt(target.name, outcome, code, reason, self._clock()))
        # Every attempt informs the site's breaker: two failures in a row open it.
        if outcome in (Outcome.ACCEPTED, Outcome.DUPLICATE):
            target.health.succeeded()
        elif outcome in (Outcome.RETRYABLE, Outcome.UNKNOWN):
            target.health.failed()
        else:
            target.health.released()
        return outcome

    async def _post(
        self, target: _Target, mt: MtMessage, remaining_s: float
    ) -> tuple[Outcome, int | None, str]:
        client = await self._client(target)
        t = target.api.timeouts
        timeout = httpx.Timeout(
            connect=min(t.connect_s, remaining_s),
            read=min(t.read_s, remaining_s),
            write=min(t.write_s, remaining_s),
            pool=min(t.pool_s, remaining_s),
        )
        try:
            response = await client.post(
                target.url, data=self._form(target.api, mt), timeout=timeout
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return Outcome.RETRYABLE, None, f"not sent: {type(exc).__name__}"
        except httpx.TransportError as exc:
            # Read/write timeouts, a connection dropped mid-request: it may have arrived.
            return Outcome.UNKNOWN, None, f"no answer: {type(exc).__name__}"
        return classify(response.status_code, response.text, self._failover.result_codes)

    async def _client(self, target: _Target) -> httpx.AsyncClient:
        now = self._clock()
        renew = (
            self._failover.mode is FailoverMode.DNS
            and target.client is not None
            and now - target.client_born >= self._failover.dns_ttl_s
        )
        if renew and target.client is not None:
            # New connections resolve the name again; the old pool drains in the background.
            # The pool retired one TTL ago has had that long to finish its requests.
            for old in self._retired:
                await old.aclose()
            self._retired = [target.client]
            target.client = None
        if target.client is None:
            target.client = httpx.AsyncClient(
                transport=self._transport,
                limits=httpx.Limits(
                    max_connections=target.api.max_connections,
                    max_keepalive_connections=target.api.max_connections,
                ),
            )
            target.client_born = now
        return target.client

    @staticmethod
    def _form(api: HttpApiConfig, mt: MtMessage) -> dict[str, str]:
        # Credentials travel in the POST body, never in a URL that a proxy or log may keep.
        form = {
            "login": api.login.get_secret_value(),
            "password": api.password.get_secret_value(),
            "phone_number": mt.phone_number,
            "sender": mt.sender,
            "message": mt.message,
            "message_id": mt.message_id,
            "receipt": "TRUE" if mt.receipt else "FALSE",
        }
        for name in ("app_id", "conversation_id", "priority", "carrier"):
            value = getattr(mt, name)
            if value is not None:
                form[name] = value
        return form

    @staticmethod
    def _unsettled(attempts: list[Attempt]) -> SendResult:
        last = attempts[-1] if attempts else None
        ambiguous = any(a.outcome is Outcome.UNKNOWN for a in attempts)
        return SendResult(
            Outcome.UNKNOWN if ambiguous else Outcome.RETRYABLE,
            last.site if last else None,
            last.code if last else None,
            (last.reason if last else "no site could be tried") + " (budget used up)",
            tuple(attempts),
        )


def _last(state: RetryCallState) -> Outcome | None:
    if state.outcome is None or state.outcome.failed:
        return None
    result = state.outcome.result()
    return result if isinstance(result, Outcome) else None
