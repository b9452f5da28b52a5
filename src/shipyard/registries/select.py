"""Pick the cleanup backend for a repository: the OCI API, GHCR's Packages API or Docker Hub's API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import StrEnum

from shipyard.plan.refs import DOCKER_HUB, parse_repository
from shipyard.registries.dockerhub import DockerHub
from shipyard.registries.ghcr import GhcrBackend
from shipyard.registries.oci import OciRegistry
from shipyard.registries.oci_cleanup import OciCleanupBackend
from shipyard.secrets import Credentials
from shipyard.steps.cleanup import CleanupBackend


class BackendKind(StrEnum):
    """Which API cleanup uses: chosen by registry (auto), the OCI API, GHCR's or Docker Hub's."""

    AUTO = "auto"
    OCI = "oci"
    GHCR = "ghcr"
    DOCKERHUB = "dockerhub"


def resolve_kind(repository: str, kind: BackendKind) -> BackendKind:
    if kind is not BackendKind.AUTO:
        return kind
    registry = parse_repository(repository).registry
    if registry == "ghcr.io":
        return BackendKind.GHCR
    if registry == DOCKER_HUB:
        return BackendKind.DOCKERHUB
    return BackendKind.OCI


@asynccontextmanager
async def open_backend(
    repository: str, kind: BackendKind = BackendKind.AUTO, credentials: Credentials | None = None, api_url: str = ""
) -> AsyncIterator[tuple[CleanupBackend, str]]:
    """Yield ``(backend, repository path)`` for a full repository reference."""
    ref = parse_repository(repository)
    chosen = resolve_kind(repository, kind)
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
