"""Reading and validating the configuration, with errors a person can act on."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bridge.config.settings import BridgeConfig


class ConfigError(Exception):
    """The configuration is unusable. ``problems`` holds one ``key: what is wrong`` per line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"invalid configuration ({source}):\n  " + "\n  ".join(problems))


def load_config(
    path: str | Path | None = None, data: Mapping[str, Any] | None = None
) -> BridgeConfig:
    """Load the YAML file at ``path`` (or ``data``), apply ``SMSBRIDGE_*`` overrides, validate."""
    source = str(path) if path is not None else "<data>"
    raw: Any = dict(data or {})
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(source, [f"cannot read the file: {exc.strerror}"]) from None
        try:
            raw = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(source, [f"not valid YAML: {_yaml_problem(exc)}"]) from None
    if not isinstance(raw, dict):
        raise ConfigError(source, ["the top level must be a mapping of sections"])
    try:
        return BridgeConfig(**raw)
    except ValidationError as exc:
        raise ConfigError(source, [_problem(e) for e in exc.errors()]) from None


def _problem(error: Any) -> str:
    loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
    message = str(error["msg"]).removeprefix("Value error, ")
    # pydantic echoes the offending input in some messages; never for a value that may be secret.
    return f"{loc or '(top level)'}: {message}"


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "syntax error"
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return str(problem)
