"""The bridge's configuration model.

Everything the bridge needs to know comes from one YAML file plus environment overrides
(``SMSBRIDGE_`` prefix, ``__`` between levels, JSON for lists: for example
``SMSBRIDGE_KAFKA__BOOTSTRAP_SERVERS='["kafka-0:9093"]'``). It is validated as a whole at
start-up, before anything touches Kafka or an SMSC; see ``bridge.config.load``.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bridge.config.secrets import Secret

Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Port = Annotated[int, Field(ge=1, le=65535)]
Seconds = Annotated[float, Field(gt=0)]


class Strict(BaseModel):
    """Base of every section: unknown keys are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- Kafka -------------------------------------------------------------------------------


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class SaslMechanism(StrEnum):
    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


class KafkaSecurity(Strict):
    protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    sasl_mechanism: SaslMechanism | None = None
    username: str | None = None
    password: Secret | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    key_password: Secret | None = None
    check_hostname: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        sasl = self.protocol in (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL)
        if sasl and (self.sasl_mechanism is None or not self.username or self.password is None):
            raise ValueError(
                f"protocol {self.protocol} needs sasl_mechanism, username and password"
            )
        if not sasl and self.sasl_mechanism is not None:
            raise ValueError(f"sasl_mechanism is set but protocol {self.protocol} is not SASL")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (client certificate)")
        for label, path in (
            ("ca_file", self.ca_file),
            ("cert_file", self.cert_file),
            ("key_file", self.key_file),
        ):
            if path is not None and not path.is_file():
                raise ValueError(f"{label}: no such file: {path}")
        return self


class KafkaConfig(Strict):
    bootstrap_servers: list[str] = Field(min_length=1)
    client_id: str = "smsbridge"
    group_id: str = "smsbridge"
    security: KafkaSecurity = KafkaSecurity()
    transaction_timeout_s: Seconds = 60.0
    session_timeout_s: Seconds = 30.0
    transactional_id_prefix: str = "smsbridge"

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_port(cls, servers: list[str]) -> list[str]:
        for server in servers:
            host, sep, port = server.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{server!r} is not host:port")
        return servers


class TopicsConfig(Strict):
    """Every topic the bridge reads or writes; the Avro contract of each is in schemas/."""

    requests: str = "sms.outbound.requests"
    statuses: str = "sms.outbound.statuses"
    dead_letter: str = "sms.dead-letter"
    raw_inbound: str = "sms.inbound.raw"
    correlation: str = "sms.correlation"
    mo: str = "sms.inbound.mo"
    dr: str = "sms.inbound.dr"
    idempotency_changelog: str = "smsbridge.outbound.idempotency-changelog"
    inbound_changelog: str = "smsbridge.inbound.state-changelog"


# --- Sites: SMPP -------------------------------------------------------------------------


class LongMessageMethod(StrEnum):
    UDH8 = "udh8"
    UDH16 = "udh16"
    SAR = "sar"
    PAYLOAD = "payload"


class MessageIdForm(StrEnum):
    """How an SMSC writes, in its DRs, the message id it gave in submit_sm_resp."""

    AS_IS = "as_is"
    HEX_TO_DEC = "hex_to_dec"
    DEC_TO_HEX = "dec_to_hex"


class TlsConfig(Strict):
    enabled: bool = False
    ca_file: Path | None = None
    verify: bool = True
    server_hostname: str | None = None


class SmscConfig(Strict):
    name: Name
    host: str = Field(min_length=1)
    port: Port = 2775
    system_id: str = Field(min_length=1, max_length=15)
    password: Secret = Field(default=SecretStr(""))
    system_type: str = Field(default="", max_length=12)
    tls: TlsConfig = TlsConfig()
    binds: int = Field(default=1, ge=1, le=64)
    window: int = Field(default=50, ge=1, le=10_000)
    max_tps: float | None = Field(default=None, gt=0)
    bind_timeout_s: Seconds = 10.0
    response_timeout_s: Seconds = 30.0
    enquire_link_interval_s: Seconds = 30.0
    # The aggregator asks for more than 30 s between rebinds; a jitter is added on top.
    rebind_interval_s: Seconds = 35.0
    throttle_backoff_s: Seconds = 1.0
    long_message: LongMessageMethod = LongMessageMethod.UDH8
    message_id_form: MessageIdForm = MessageIdForm.AS_IS
    message_id_strip_zeros: bool = True
    message_id_ignore_case: bool = True

    @field_validator("password")
    @classmethod
    def _smpp_password_length(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) > 8:
            raise ValueError("an SMPP 3.4 password is at most 8 characters")
        return value


# --- Sites: HTTP -------------------------------------------------------------------------


class HttpTimeouts(Strict):
    connect_s: Seconds = 5.0
    read_s: Seconds = 15.0
    write_s: Seconds = 5.0
    pool_s: Seconds = 5.0


class HttpApiConfig(Strict):
    """One site's HTTP API. ``urls`` holds more than one only for a site behind several URLs."""

    urls: list[AnyHttpUrl] = Field(min_length=1)
    login: Secret  # a credential too: never logged
    password: Secret
    timeouts: HttpTimeouts = HttpTimeouts()
    max_connections: int = Field(default=100, ge=1)


class SiteConfig(Strict):
    name: Name
    http: HttpApiConfig | None = None
    smscs: list[SmscConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_transport(self) -> Self:
        if self.http is None and not self.smscs:
            raise ValueError(f"site {self.name!r} has neither an http API nor any smscs")
        _unique("smscs", [s.name for s in self.smscs])
        return self


class FailoverMode(StrEnum):
    DNS = "dns"  # one URL whose DNS answer the provider switches
    SITES = "sites"  # client-side: ordered sites, primary first


class HttpFailoverConfig(Strict):
    mode: FailoverMode = FailoverMode.SITES
    dns_url: AnyHttpUrl | None = None
    dns_ttl_s: Seconds = 30.0
    # The provider's advice: retry the same site after about 30 s, then the other site.
    retry_delay_s: Annotated[float, Field(ge=0)] = 30.0
    throttle_backoff_s: Annotated[float, Field(ge=0)] = 5.0
    budget_s: Seconds = 40.0
    failures_to_open: int = Field(default=2, ge=1)
    probe_interval_s: Seconds = 30.0
    successes_to_close: int = Field(default=2, ge=1)
    result_codes: dict[int, str] = Field(
        default_factory=lambda: {
            0: "accepted",
            1: "rejected",
            2: "rejected",
            3: "rejected",
            4: "rejected",
            5: "rejected",
            6: "throttled",
            7: "duplicate",
            98: "retryable",
            99: "rejected",
        },
        description="The provider's result code -> outcome (accepted, duplicate, throttled,"
        " rejected, retryable).",
    )

    @field_validator("result_codes")
    @classmethod
    def _outcomes(cls, codes: dict[int, str]) -> dict[int, str]:
        allowed = {"accepted", "duplicate", "throttled", "rejected", "retryable"}
        for code, outcome in codes.items():
            if outcome not in allowed:
                raise ValueError(f"code {code}: {outcome!r} is not one of {sorted(allowed)}")
        return codes


# --- Pipelines ---------------------------------------------------------------------------


class Transport(StrEnum):
    SMPP = "smpp"
    HTTP = "http"


class DeliveryPolicy(StrEnum):
    """What happens to a request sent whose transaction then never commits (a crash)."""

    AT_LEAST_ONCE = "at-least-once"  # send again with the same idempotency key
    AT_MOST_ONCE = "at-most-once"  # mark in flight first; after a crash report AMBIGUOUS


class RoutingConfig(Strict):
    # None: every configured transport, SMPP first (see BridgeConfig.routes_for).
    default: list[Transport] | None = Field(default=None, min_length=1)
    tenants: dict[str, list[Transport]] = Field(default_factory=dict)
    policy: dict[Transport, DeliveryPolicy] = Field(
        default_factory=lambda: {
            Transport.SMPP: DeliveryPolicy.AT_MOST_ONCE,
            Transport.HTTP: DeliveryPolicy.AT_LEAST_ONCE,
        }
    )


class OutboundConfig(Strict):
    max_parts: int = Field(default=10, ge=1, le=255)
    batch_size: int = Field(default=500, ge=1)
    request_deadline_s: Seconds = 45.0
    default_sender: str | None = None


class WindowsConfig(Strict):
    """How long state is kept: each is a bound, so memory stays bounded."""

    idempotency_retention_s: Seconds = 7 * 24 * 3600.0
    inbound_dedup_s: Seconds = 24 * 3600.0
    correlation_retention_s: Seconds = 3 * 24 * 3600.0
    dr_wait_for_correlation_s: Seconds = 300.0
    mo_reassembly_timeout_s: Seconds = 600.0


class CallbackAuth(Strict):
    basic_username: str | None = None
    basic_password: Secret | None = None
    hmac_secret: Secret | None = None
    hmac_header: str = "X-Signature"
    allow_from: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _pairs(self) -> Self:
        if (self.basic_username is None) != (self.basic_password is None):
            raise ValueError("basic_username and basic_password go together")
        for network in self.allow_from:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"allow_from: {network!r} is not an address or network") from None
        return self


class CallbackListenerConfig(Strict):
    enabled: bool = True
    host: str = "0.0.0.0"  # a service listener: all interfaces
    port: Port = 8080
    path: str = "/callbacks"
    auth: CallbackAuth = CallbackAuth()
    max_body_bytes: int = Field(default=64 * 1024, ge=256)
    max_concurrency: int = Field(default=256, ge=1)


class TelemetryConfig(Strict):
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    mask_pii: bool = True


# --- The whole -----------------------------------------------------------------------------


class BridgeConfig(BaseSettings):
    """The whole configuration. Build it with ``bridge.config.load``."""

    model_config = SettingsConfigDict(
        env_prefix="SMSBRIDGE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    kafka: KafkaConfig
    topics: TopicsConfig = TopicsConfig()
    sites: list[SiteConfig] = Field(min_length=1)
    http_failover: HttpFailoverConfig = HttpFailoverConfig()
    routing: RoutingConfig = RoutingConfig()
    outbound: OutboundConfig = OutboundConfig()
    windows: WindowsConfig = WindowsConfig()
    callbacks: CallbackListenerConfig = CallbackListenerConfig()
    telemetry: TelemetryConfig = TelemetryConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file is the base; the environment overrides it (12-factor, Helm-friendly).
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        _unique("sites", [s.name for s in self.sites])
        has_http = any(s.http is not None for s in self.sites)
        has_smpp = any(s.smscs for s in self.sites)
        routes = {"routing.default": self.routing.default or []} | {
            f"routing.tenants.{t}": r for t, r in self.routing.tenants.items()
        }
        for where, transports in routes.items():
            for transport in transports:
                if transport is Transport.HTTP and not has_http:
                    raise ValueError(f"{where} names http but no site has an http API")
                if transport is Transport.SMPP and not has_smpp:
                    raise ValueError(f"{where} names smpp but no site has smscs")
        if self.http_failover.mode is FailoverMode.DNS and self.http_failover.dns_url is None:
            raise ValueError("http_failover.mode is dns but http_failover.dns_url is not set")
        # A send must finish inside the transaction that records it, with room to commit.
        limit = self.kafka.transaction_timeout_s * 0.8
        if has_http and self.http_failover.budget_s > limit:
            raise ValueError(
                f"http_failover.budget_s ({self.http_failover.budget_s:g}) must fit inside 80% of"
                f" kafka.transaction_timeout_s ({self.kafka.transaction_timeout_s:g})"
            )
        if self.outbound.request_deadline_s > limit:
            raise ValueError(
                f"outbound.request_deadline_s ({self.outbound.request_deadline_s:g}) must fit"
                f" inside 80% of kafka.transaction_timeout_s"
                f" ({self.kafka.transaction_timeout_s:g})"
            )
        return self

    def routes_for(self, tenant: str | None) -> list[Transport]:
        """The transports to try for a tenant's request, in order."""
        if tenant is not None and tenant in self.routing.tenants:
            return self.routing.tenants[tenant]
        if self.routing.default is not None:
            return self.routing.default
        configured = [Transport.SMPP] if any(s.smscs for s in self.sites) else []
        return configured + ([Transport.HTTP] if any(s.http for s in self.sites) else [])

    def site(self, name: str) -> SiteConfig:
        for site in self.sites:
            if site.name == name:
                return site
        raise KeyError(name)

    def masked(self) -> dict[str, Any]:
        """The effective configuration as plain data, every secret masked."""
        return self.model_dump(mode="json")


def _unique(what: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what}: name {name!r} is used twice")
        seen.add(name)
