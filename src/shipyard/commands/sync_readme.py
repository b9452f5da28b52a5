"""``sync-readme``: push a README as a Docker Hub repository's overview (no engine)."""

from __future__ import annotations

from shipyard.auth import credentials_for
from shipyard.commands.door import (
    Door,
    required_image,
)
from shipyard.errors import InvalidInput
from shipyard.registries.backends.dockerhub import DockerHub, validate_description
from shipyard.release.config import (
    parse_api_url,
)
from shipyard.reports.report import ReadmeReport
from shipyard.values.refs import DOCKER_HUB, parse_repository


async def sync_readme(*, image: str, readme: str, short_description: str, api_url: str, door: Door) -> ReadmeReport:
    """Push a README as a Docker Hub repository's overview: sizes are checked before any request."""
    ref = parse_repository(required_image(image, "the Docker Hub repository"), what="--image")
    if ref.registry != DOCKER_HUB:
        raise InvalidInput(
            "--image",
            image,
            "is not on Docker Hub",
            "sync-readme sets Docker Hub overviews: use docker.io/<namespace>/<name>.",
        )
    validate_description(readme, short_description)
    api_url = parse_api_url(api_url) if api_url else ""
    async with DockerHub(credentials_for(door.credentials, DOCKER_HUB), api_url) as hub:
        await hub.update_description(ref.repository, readme, short_description)
    return ReadmeReport(f"docker.io/{ref.repository}", len(readme.encode()), short_description)
