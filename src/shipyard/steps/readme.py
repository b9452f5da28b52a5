"""Push a README as a Docker Hub repository's overview (the seed workflow's last job)."""

from __future__ import annotations

from shipyard.plan.config import parse_api_url
from shipyard.plan.errors import InvalidInput
from shipyard.plan.refs import DOCKER_HUB, parse_repository
from shipyard.registries.dockerhub import DockerHub, validate_description
from shipyard.secrets import Credentials


async def sync_readme(repository: str, readme: str, short: str = "", credentials: Credentials | None = None, api_url: str = "") -> str:
    """Validate sizes first, then update the description; returns a one-line summary."""
    ref = parse_repository(repository, what="--repository")
    if ref.registry != DOCKER_HUB:
        raise InvalidInput(
            "--repository",
            repository,
            "is not on Docker Hub",
            "sync-readme sets Docker Hub overviews: use docker.io/<namespace>/<name>.",
        )
    validate_description(readme, short)
    api_url = parse_api_url(api_url) if api_url else ""
    async with DockerHub(credentials, api_url) as hub:
        await hub.update_description(ref.repository, readme, short)
    return f"updated the overview of docker.io/{ref.repository} ({len(readme.encode())} bytes)"
