"""aiokafka connection options from the configuration: one place for security settings."""

from __future__ import annotations

from typing import Any

from aiokafka.helpers import create_ssl_context

from bridge.config.settings import KafkaConfig, SecurityProtocol


def connection_options(config: KafkaConfig) -> dict[str, Any]:
    """Keyword arguments shared by every aiokafka producer, consumer and admin client."""
    security = config.security
    options: dict[str, Any] = {
        "bootstrap_servers": ",".join(config.bootstrap_servers),
        "client_id": config.client_id,
        "security_protocol": security.protocol.value,
    }
    if security.protocol in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL):
        context = create_ssl_context(
            cafile=str(security.ca_file) if security.ca_file else None,
            certfile=str(security.cert_file) if security.cert_file else None,
            keyfile=str(security.key_file) if security.key_file else None,
            password=security.key_password.get_secret_value() if security.key_password else None,
        )
        context.check_hostname = security.check_hostname
        options["ssl_context"] = context
    if security.sasl_mechanism is not None:
        options["sasl_mechanism"] = security.sasl_mechanism.value
        options["sasl_plain_username"] = security.username
        options["sasl_plain_password"] = (
            security.password.get_secret_value() if security.password else None
        )
    return options
