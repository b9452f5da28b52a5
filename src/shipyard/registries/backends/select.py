"""Pick the cleanup backend for a repository: the OCI API, GHCR's Packages API or Docker Hub's API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import StrEnum

from shipyard.errors import InvalidInput
from shipyard.registries.backends.apply import CleanupBackend
from shipyard.registries.backends.dockerhub import DockerHub
from shipyard.registries.backends.ghcr import GhcrBackend
from shipyard.registries.backends.oci import OciCleanupBackend
from shipyard.registries.oci import OciRegistry
from shipyard.release.config import parse_api_url
from shipyard.secrets import Credentials
from shipyard.values.refs import DOCKER_HUB, parse_repository


class BackendKind(StrEnum):
    """Which API cleanup uses: chosen by registry (auto), the OCI API, GHCR's or Docker Hub's."""

    AUTO = "auto"
    OCI = "oci"
    GHCR = "ghcr"
    DOCKERHUB = "dockerhub"


def resolve_kind(repository: str, kind: BackendKind, api_url: str = "") -> BackendKind:
    """The backend for a repository; a choice that cannot work there is an error, not a guess."""
    registry = parse_repository(repository, what="--image").registry
    if kind is BackendKind.AUTO:
        kind = {"ghcr.io": BackendKind.GHCR, DOCKER_HUB: BackendKind.DOCKERHUB}.get(registry, BackendKind.OCI)
    home = {BackendKind.GHCR: "ghcr.io", BackendKind.DOCKERHUB: DOCKER_HUB}.get(kind)
    if home and registry != home and not api_url:
        raise InvalidInput(
            "--backend",
            kind.value,
            f"uses the API of {home}, but the repository is on {registry}",
            "Use --backend oci (or auto) for this registry, or --api-url for a compatible API.",
        )
    if kind is BackendKind.OCI and api_url:
        raise InvalidInput("--api-url", api_url, "is not used by the oci backend", "Drop it, or choose --backend ghcr or dockerhub.")
    return kind


@asynccontextmanager
async def open_backend(
    repository: str, kind: BackendKind = BackendKind.AUTO, credentials: Credentials | None = None, api_url: str = ""
) -> AsyncIterator[tuple[CleanupBackend, str]]:
    """Yield ``(backend, repository path)`` for a full repository reference."""
    ref = parse_repository(repository, what="--image")
    api_url = parse_api_url(api_url) if api_url else ""
    chosen = resolve_kind(repository, kind, api_url)
    if chosen is BackendKind.DOCKERHUB:
        async with DockerHub(credentials, api_url) as hub:
            yield hub, ref.repository
        return
    async with OciRegistry(ref.registry, credentials) as reg:
        if chosen is BackendKind.GHCR:
            async with GhcrBackend(credentials, reg, api_url) as ghcr:
                yield ghcr, ref.repository
        else:
            yield OciCleanupBackend(reg), ref.repository
