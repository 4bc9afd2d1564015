"""Configuration: every class of bad input is refused with the key and the reason."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from bridge.config import BridgeConfig, ConfigError, load_config

EXAMPLES = Path(__file__).parents[2] / "bridge" / "config" / "examples"


def minimal() -> dict[str, Any]:
    return {
        "kafka": {"bootstrap_servers": ["127.0.0.1:9092"]},
        "sites": [
            {
                "name": "dc3",
                "http": {
                    "urls": ["http://127.0.0.1:8101/httpapi/receiver"],
                    "login": "acme",
                    "password": "hunter2-http",
                },
                "smscs": [
                    {"name": "smc1", "host": "127.0.0.1", "system_id": "acme", "password": "pw12"}
                ],
            }
        ],
    }


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(data=data)
    return info.value.problems


def with_change(path: str, value: Any) -> dict[str, Any]:
    data = minimal()
    node: Any = data
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for key in keys[:-1]:
        node = node[key] if isinstance(key, int) else node.setdefault(key, {})
    node[keys[-1]] = value
    return data


def test_minimal_config_loads_with_defaults() -> None:
    config = load_config(data=minimal())
    assert config.sites[0].smscs[0].rebind_interval_s > 30
    assert config.sites[0].smscs[0].window == 50
    assert config.topics.requests == "sms.outbound.requests"
    assert config.routes_for(None) == ["smpp", "http"]


def test_default_route_is_what_is_configured() -> None:
    data = minimal()
    del data["sites"][0]["smscs"]
    assert load_config(data=data).routes_for("anyone") == ["http"]


@pytest.mark.parametrize("name", ["aggregator.yaml", "dev.yaml"])
def test_shipped_examples_are_valid(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("KAFKA_PASSWORD", "SMS_API_LOGIN", "SMS_API_PASSWORD", "SMPP_PASSWORD"):
        monkeypatch.setenv(var, "s3cret")
    monkeypatch.setenv("CALLBACK_PASSWORD", "cbpass")
    config = load_config(EXAMPLES / name)
    assert len(config.sites) == 2
    assert sum(len(s.smscs) for s in config.sites) == 4


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("kafka.bootstrap_servers", [], "kafka.bootstrap_servers: List should have at least 1"),
        (
            "kafka.bootstrap_servers",
            ["nohost"],
            "kafka.bootstrap_servers: 'nohost' is not host:port",
        ),
        ("sites.0.smscs.0.port", 70000, "sites[0].smscs[0].port: Input should be less than"),
        ("sites.0.smscs.0.window", 0, "sites[0].smscs[0].window: Input should be greater than"),
        (
            "sites.0.smscs.0.system_id",
            "x" * 16,
            "sites[0].smscs[0].system_id: String should have at",
        ),
        (
            "sites.0.smscs.0.password",
            "123456789",
            "sites[0].smscs[0].password: an SMPP 3.4 password",
        ),
        (
            "sites.0.smscs.0.long_message",
            "morse",
            "sites[0].smscs[0].long_message: Input should be",
        ),
        ("sites.0.smscs.0.message_id_form", "hexish", "sites[0].smscs[0].message_id_form:"),
        (
            "sites.0.smscs.0.rebind_interval_s",
            -1,
            "sites[0].smscs[0].rebind_interval_s: Input should",
        ),
        ("sites.0.http.urls", ["not a url"], "sites[0].http.urls[0]: Input should be a valid URL"),
        ("sites.0.colour", "blue", "sites[0].colour: Extra inputs are not permitted"),
        ("sites.0.name", "bad name!", "sites[0].name: String should match pattern"),
        ("callbacks.auth.allow_from", ["10.0.0.0/33"], "callbacks.auth: allow_from: '10.0.0.0/33'"),
        ("routing.default", ["pigeon"], "routing.default[0]: Input should be 'smpp' or 'http'"),
        (
            "http_failover.result_codes",
            {"0": "great"},
            "http_failover.result_codes: code 0: 'great'",
        ),
    ],
)
def test_bad_values_name_the_key(path: str, value: Any, expected: str) -> None:
    problems = problems_of(with_change(path, value))
    assert any(p.startswith(expected) for p in problems), problems


def test_missing_sections_are_named() -> None:
    problems = problems_of({})
    assert "kafka: Field required" in problems
    assert "sites: Field required" in problems


def test_site_without_any_transport() -> None:
    data = minimal()
    data["sites"].append({"name": "empty"})
    assert problems_of(data) == ["sites[1]: site 'empty' has neither an http API nor any smscs"]


def test_duplicate_names() -> None:
    data = minimal()
    data["sites"].append(copy.deepcopy(data["sites"][0]))
    assert problems_of(data) == ["(top level): sites: name 'dc3' is used twice"]
    data = minimal()
    data["sites"][0]["smscs"].append(copy.deepcopy(data["sites"][0]["smscs"][0]))
    assert problems_of(data) == ["sites[0]: smscs: name 'smc1' is used twice"]


def test_route_needs_its_transport() -> None:
    data = minimal()
    del data["sites"][0]["http"]
    data["routing"] = {"default": ["smpp"], "tenants": {"marketing": ["http"]}}
    assert problems_of(data) == [
        "(top level): routing.tenants.marketing names http but no site has an http API"
    ]


def test_http_budget_must_fit_the_transaction_timeout() -> None:
    data = minimal()
    data["kafka"]["transaction_timeout_s"] = 30
    data["outbound"] = {"request_deadline_s": 20}
    data["http_failover"] = {"budget_s": 40}
    (problem,) = problems_of(data)
    assert problem.startswith("(top level): http_failover.budget_s (40) must fit inside 80%")


def test_sasl_needs_credentials() -> None:
    data = with_change("kafka.security", {"protocol": "SASL_SSL"})
    assert problems_of(data) == [
        "kafka.security: protocol SASL_SSL needs sasl_mechanism, username and password"
    ]


def test_ssl_files_must_exist(tmp_path: Path) -> None:
    data = with_change("kafka.security", {"protocol": "SSL", "ca_file": str(tmp_path / "ca.pem")})
    assert problems_of(data) == [f"kafka.security: ca_file: no such file: {tmp_path / 'ca.pem'}"]


def test_dns_mode_needs_its_url() -> None:
    data = with_change("http_failover", {"mode": "dns"})
    assert problems_of(data) == [
        "(top level): http_failover.mode is dns but http_failover.dns_url is not set"
    ]


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "missing.yaml")
    assert info.value.problems == ["cannot read the file: No such file or directory"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("kafka:\n  bootstrap_servers: [a\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert info.value.problems[0].startswith("not valid YAML: line 3")
    bad.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert info.value.problems == ["the top level must be a mapping of sections"]


def test_environment_overrides_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSBRIDGE_KAFKA__BOOTSTRAP_SERVERS", '["kafka-9:9093"]')
    monkeypatch.setenv("SMSBRIDGE_OUTBOUND__MAX_PARTS", "4")
    config = load_config(data=minimal())
    assert config.kafka.bootstrap_servers == ["kafka-9:9093"]
    assert config.outbound.max_parts == 4
    monkeypatch.setenv("SMSBRIDGE_OUTBOUND__MAX_PARTS", "many")
    assert problems_of(minimal())[0].startswith("outbound.max_parts: Input should be a valid int")


def test_secrets_from_env_and_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text("fromfile\n", encoding="utf-8")
    monkeypatch.setenv("HTTP_PW", "fromenv-secret")
    data = with_change("sites.0.http.password", {"env": "HTTP_PW"})
    data["sites"][0]["smscs"][0]["password"] = {"file": str(secret_file)}
    config = load_config(data=data)
    http = config.sites[0].http
    assert http is not None
    assert http.password.get_secret_value() == "fromenv-secret"
    assert config.sites[0].smscs[0].password.get_secret_value() == "fromfile"

    monkeypatch.delenv("HTTP_PW")
    assert problems_of(data) == ["sites[0].http.password: environment variable HTTP_PW is not set"]


def test_secrets_never_show(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(data=minimal())
    shown = " ".join([repr(config), str(config), str(config.masked())])
    assert "hunter2-http" not in shown
    assert "pw12" not in shown
    assert config.masked()["sites"][0]["http"]["login"] == "**********"
    # a wrong value of a secret field must not be echoed in the error either
    data = with_change("sites.0.smscs.0.password", "toolongsecret")
    assert not any("toolongsecret" in p for p in problems_of(data))


def test_the_model_is_frozen() -> None:
    config = load_config(data=minimal())
    with pytest.raises(Exception, match="frozen"):
        config.sites[0].smscs[0].window = 3  # type: ignore[misc]
    assert isinstance(config, BridgeConfig)
