"""Credentials that never print: resolved once from ``env:`` / ``file:`` sources, redacted everywhere.

In module mode these come from ``dagger.Secret`` (``await secret.plaintext()`` at the moment of
use); in the CLI they come from the same ``env:NAME`` / ``file:PATH`` sources ``dagger call`` takes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from shipyard.errors import InvalidInput
from shipyard.local_files import read_text_file

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SecretValue:
    """A secret string whose ``repr``/``str`` are redacted; ``reveal()`` is the only way in."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretValue(***)"

    __str__ = __repr__


def resolve_secret(source: str, *, what: str = "secret") -> SecretValue:
    """Read ``env:NAME`` or ``file:PATH``; an empty or missing secret is an error naming the source."""
    kind, sep, ref = source.partition(":")
    if not sep or kind not in ("env", "file") or not ref:
        raise InvalidInput(what, source, "is not a secret source", "Use env:NAME or file:PATH (never the secret itself).")
    if kind == "env":
        if not _ENV_NAME.fullmatch(ref):
            raise InvalidInput(what, source, f"{ref!r} is not an environment variable name", "Use env:NAME, e.g. env:GHCR_TOKEN.")
        value = os.environ.get(ref)
        if value is None:
            raise InvalidInput(what, source, f"environment variable {ref} is not set", f"Export {ref} or use file:PATH.")
    else:
        value = read_text_file(ref, what=what, shown_as=source)
    value = value.strip()
    if not value:
        raise InvalidInput(what, source, "is empty", "Put the token or password in it.")
    return SecretValue(value)


@dataclass(frozen=True)
class Credentials:
    """A username and its secret, for one registry or API."""

    username: str
    password: SecretValue


_SECRET_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def parse_build_secret(text: str) -> tuple[str, SecretValue]:
    """``ID=env:NAME`` or ``ID=file:PATH`` -> (secret id for ``RUN --mount=type=secret,id=ID``, value)."""
    name, sep, source = text.partition("=")
    if not sep or not _SECRET_ID.fullmatch(name.strip()):
        raise InvalidInput("--build-secret", text, "is not ID=SOURCE", "Write e.g. --build-secret npm_token=env:NPM_TOKEN.")
    return name.strip(), resolve_secret(source, what=f"--build-secret {name.strip()}")
