"""The build cache of the ``shipyard`` command's engine sessions (``--cache-from``/``--cache-to``).

Dagger v0.19 configures a session's cache from the environment of the CLI that opens it, and
authenticates to a cache registry with the Docker config that CLI attaches to the session. So a
session that uses a cache is started with :func:`session_environment`: the engine cache variables
(``release/cache.py`` writes them) and ``DOCKER_CONFIG`` pointing at a temporary copy of the host's
Docker config with the cache registries' credentials added (from the same lookup as the targets;
the directory is private and removed with the session). The engine exports when the session
closes and only logs a failure, so :func:`export_digests` reads each cache manifest before and
after. Only the CLI door opens sessions; a module's caller sets its own (docs/build-cache.md).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import anyio
import httpx

from shipyard.auth import DOCKER_HUB_ALIASES, credentials_for
from shipyard.errors import ShipyardError
from shipyard.pipeline import registry_client
from shipyard.release.cache import CACHE_ENVS, CacheConfig
from shipyard.secrets import Credentials
from shipyard.steps.tools import RegistryAccess, RegistryEndpoint
from shipyard.values.refs import ImageRef

DOCKER_CONFIG_ENV = "DOCKER_CONFIG"
_DOCKER_HUB_KEY = "https://index.docker.io/v1/"  # how Docker's config names Docker Hub


def host_docker_config(environ: Mapping[str, str]) -> dict[str, object]:
    """The host's Docker config (``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``), or empty."""
    directory = Path(environ[DOCKER_CONFIG_ENV]) if environ.get(DOCKER_CONFIG_ENV) else Path.home() / ".docker"
    try:
        data = json.loads((directory / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def docker_config_with(base: Mapping[str, object], credentials: Mapping[str, Credentials]) -> dict[str, object]:
    """``base`` with ``auths`` entries for ``credentials`` (registry -> credentials) added; the
    rest (credential helpers for base images, proxies) is kept."""
    config = dict(base)
    auths = dict(config.get("auths") or {})  # type: ignore[call-overload]
    helpers = dict(config.get("credHelpers") or {})  # type: ignore[call-overload]
    for registry, cred in credentials.items():
        key = _DOCKER_HUB_KEY if registry in DOCKER_HUB_ALIASES else registry
        token = base64.b64encode(f"{cred.username}:{cred.password.reveal()}".encode()).decode()
        auths[key] = {"auth": token}
        helpers.pop(key, None)  # the given credentials win over a helper for the same registry
    config["auths"] = auths
    if helpers or "credHelpers" in config:
        config["credHelpers"] = helpers
    return config


@contextlib.contextmanager
def session_environment(cache: CacheConfig, credentials: Mapping[str, Credentials]) -> Iterator[dict[str, str]]:
    """The variables a session with ``cache`` is started with (empty without a cache configured
    by options); the temporary Docker config lives until the context ends."""
    if not cache.configured:
        yield {}
        return
    env = cache.environment()
    wanted = {r: c for r in cache.registries() if (c := credentials_for(credentials, r)) is not None}
    if not wanted:
        yield env
        return
    with tempfile.TemporaryDirectory(prefix="shipyard-docker-config-") as directory:
        os.chmod(directory, 0o700)
        path = Path(directory) / "config.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(docker_config_with(host_docker_config(os.environ), wanted), handle)
        yield {**env, DOCKER_CONFIG_ENV: directory}


@contextlib.contextmanager
def process_environment(variables: Mapping[str, str], *, replace_cache: bool) -> Iterator[None]:
    """This process's environment with ``variables`` set (and, with ``replace_cache``, any other
    engine cache variable removed) until the context ends: the Dagger SDK starts the session's
    CLI with this process's environment, and offers no other way in."""
    names = set(variables) | (set(CACHE_ENVS) if replace_cache else set())
    saved = {name: os.environ.get(name) for name in names}
    try:
        for name in names:
            if name in variables:
                os.environ[name] = variables[name]
            else:
                os.environ.pop(name, None)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


async def export_digests(
    refs: tuple[ImageRef, ...], credentials: Mapping[str, Credentials], endpoint: Callable[[str], RegistryEndpoint]
) -> dict[str, str | Exception | None]:
    """Each cache reference's manifest digest now (None: no manifest; an error: unreadable)."""

    out: dict[str, str | Exception | None] = {}

    async def one(ref: ImageRef) -> None:
        access = RegistryAccess(endpoints={ref.registry: endpoint(ref.registry)}, credentials=credentials)
        try:
            async with registry_client(access, ref.registry) as client:
                out[str(ref)] = await client.manifest_digest(ref.repository, ref.tag or ref.digest or "latest")
        except ShipyardError as exc:
            out[str(ref)] = exc
        except (OSError, httpx.HTTPError) as exc:
            out[str(ref)] = ShipyardError(f"registry {ref.registry}: {exc}")

    async with anyio.create_task_group() as group:
        for ref in refs:
            group.start_soon(one, ref)
    return out
