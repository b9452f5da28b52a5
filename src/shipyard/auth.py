"""One credential lookup for both doors: registry -> username and secret.

``dagger call with-registry-auth --address HOST --username USER --secret env:NAME`` and the
CLI's ``--registry-auth HOST=USER:env:NAME`` (or ``file:PATH``) fill the same mapping, keyed by
the registry as references name it (``docker.io`` for Docker Hub and its aliases), and every
command reads it with :func:`credentials_for`. Secrets stay :class:`SecretValue` (redacted).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from shipyard.errors import InvalidInput
from shipyard.secrets import Credentials, SecretValue, resolve_secret
from shipyard.values.refs import DOCKER_HUB, parse_registry

# Docker Hub answers under several names; credentials for any of them are Docker Hub's.
DOCKER_HUB_ALIASES = frozenset({DOCKER_HUB, "index.docker.io", "registry-1.docker.io", "hub.docker.com"})


def canonical_registry(address: str, *, what: str = "--address") -> str:
    """``ghcr.io``, ``localhost:5000``; every Docker Hub alias is ``docker.io``."""
    registry = parse_registry(address, what=what)
    return DOCKER_HUB if registry in DOCKER_HUB_ALIASES else registry


def credentials_for(auths: Mapping[str, Credentials], registry: str) -> Credentials | None:
    """The credentials given for ``registry`` (any Docker Hub alias finds Docker Hub's), else None."""
    return auths.get(DOCKER_HUB if registry in DOCKER_HUB_ALIASES else registry)


def parse_registry_auth(text: str) -> tuple[str, Credentials]:
    """``HOST=USER:env:NAME`` or ``HOST=USER:file:PATH`` -> (registry, credentials)."""
    host, sep, rest = text.partition("=")
    user, sep2, source = rest.partition(":")
    if not sep or not sep2 or not host.strip() or not user.strip():
        raise InvalidInput(
            "--registry-auth", text, "is not HOST=USER:SOURCE", "Write e.g. --registry-auth ghcr.io=acme-bot:env:GHCR_TOKEN."
        )
    registry = canonical_registry(host.strip().lower(), what="--registry-auth")
    return registry, Credentials(user.strip(), resolve_secret(source, what=f"--registry-auth for {host.strip()}"))


class SecretLike(Protocol):
    """What module mode hands over: a ``dagger.Secret`` (anything whose plaintext can be awaited)."""

    async def plaintext(self) -> str: ...


async def read_auths(entries: Iterable[tuple[str, str, SecretLike]]) -> dict[str, Credentials]:
    """``with-registry-auth`` entries (address, username, Secret) as the mapping; the last entry
    for a registry wins, as the last ``--registry-auth`` does."""
    out: dict[str, Credentials] = {}
    for address, username, secret in entries:
        out[canonical_registry(address)] = Credentials(username, SecretValue(await secret.plaintext()))
    return out
