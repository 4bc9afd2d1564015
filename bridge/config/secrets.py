"""Secrets in the configuration: inline, from an environment variable, or from a file.

A secret is written in YAML as a plain string, as ``{env: NAME}`` or as ``{file: PATH}``
(the Kubernetes way: a mounted Secret). It is resolved once, at load time, into a
``pydantic.SecretStr`` so that it never shows in a repr, a log line or an error text.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, SecretStr


class SecretRefError(ValueError):
    """A secret reference that cannot be resolved (its text never holds the secret)."""


def resolve_secret(value: Any) -> Any:
    """Turn ``{env: NAME}`` / ``{file: PATH}`` into the secret's value; the rest is pydantic's."""
    if isinstance(value, SecretStr) or not isinstance(value, dict):
        return value
    if set(value) == {"env"}:
        name = str(value["env"])
        if name not in os.environ:
            raise SecretRefError(f"environment variable {name} is not set")
        return os.environ[name]
    if set(value) == {"file"}:
        path = Path(str(value["file"]))
        try:
            # One trailing newline is what `echo` and most secret tools add: not part of it.
            return path.read_text(encoding="utf-8").removesuffix("\n")
        except OSError as exc:
            raise SecretRefError(f"cannot read secret file {path}: {exc.strerror}") from None
    raise SecretRefError("a secret is a string, {env: NAME} or {file: PATH}")


Secret = Annotated[SecretStr, BeforeValidator(resolve_secret)]
"""A configuration secret: masked in every repr and dump."""
