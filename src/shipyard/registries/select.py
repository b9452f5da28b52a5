"""Pick the cleanup backend for a repository: the OCI API, GHCR's Packages API or Docker Hub's API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from enum import StrEnum

from shipyard.plan.refs import DOCKER_HUB, parse_repository
from shipyard.plan.retention import RetentionPolicy
from shipyard.registries.dockerhub import DockerHub
from shipyard.registries.ghcr import GhcrBackend
from shipyard.registries.oci import OciRegistry
from shipyard.registries.oci_cleanup import OciCleanupBackend
from shipyard.secrets import Credentials
from shipyard.steps.cleanup import CleanupBackend, CleanupReport, run_cleanup


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


async def cleanup_repository(
    repository: str,
    policy: RetentionPolicy,
    *,
    kind: BackendKind = BackendKind.AUTO,
    credentials: Credentials | None = None,
    api_url: str = "",
    apply: bool = False,
) -> CleanupReport:
    """The cleanup that the CLI and the Dagger function both run: pick the backend, plan, apply."""
    async with open_backend(repository, kind, credentials, api_url) as (backend, path):
        return await run_cleanup(backend, path, policy, now=datetime.now(UTC), apply=apply)
