"""Docker Hub through its API: tag listing and deletion for cleanup, and the repository description.

Endpoints: ``POST /v2/auth/token`` (``identifier`` + ``secret`` -> ``access_token``),
``GET /v2/namespaces/{ns}/repositories/{repo}/tags`` (paged by ``next``),
``DELETE /v2/namespaces/{ns}/repositories/{repo}/tags/{tag}``, and
``PATCH /v2/repositories/{ns}/{repo}/`` for ``full_description`` / ``description``.
Docker Hub deletes tags, not digests, and does not list untagged images, so only tag rules
apply there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from shipyard.errors import InvalidInput, RegistryError
from shipyard.registries.http import ApiClient, fail
from shipyard.retention.inventory import Inventory, Manifest, artifact_tag
from shipyard.secrets import Credentials
from shipyard.values.refs import split_namespace

HUB_API = "https://hub.docker.com"
FULL_DESCRIPTION_LIMIT = 25_000  # bytes, Docker Hub's limit for the repository overview
SHORT_DESCRIPTION_LIMIT = 100  # characters


def validate_description(readme: str, short: str) -> None:
    """Check what Docker Hub accepts, before any request is made; an empty README would erase the overview."""
    if not readme.strip():
        raise InvalidInput("--readme", readme, "is empty, and would erase the repository overview", "Give the Markdown file to publish.")
    size = len(readme.encode())
    if size > FULL_DESCRIPTION_LIMIT:
        raise InvalidInput(
            "--readme",
            f"{size} bytes",
            f"is larger than Docker Hub's {FULL_DESCRIPTION_LIMIT}-byte limit",
            "Shorten it, or link to the full README from a shorter overview.",
        )
    if len(short) > SHORT_DESCRIPTION_LIMIT:
        raise InvalidInput("--short-description", short, f"is longer than {SHORT_DESCRIPTION_LIMIT} characters", "Shorten it.")
    if any(c in short for c in "\r\n"):
        raise InvalidInput("--short-description", short, "spans several lines", "Write one line; put the rest in the README.")


class DockerHub(ApiClient):
    """``async with DockerHub(credentials) as hub``; logs in on first use."""

    def __init__(self, credentials: Credentials | None, api_url: str = "") -> None:
        super().__init__(api_url or HUB_API, headers={"Accept": "application/json"})
        self.credentials = credentials
        self._logged_in = False

    async def _call(self, method: str, url: str, doing: str, **kwargs: Any) -> httpx.Response:
        if not self._logged_in:
            await self._login()
        return await self.send(method, url, doing, **kwargs)

    async def _login(self) -> None:
        if self.credentials is None:
            raise RegistryError(
                self.name, "Docker Hub needs credentials: add with-registry-auth --address docker.io (or --username/--password)"
            )
        body = {"identifier": self.credentials.username, "secret": self.credentials.password.reveal()}
        response = await self.send("POST", "/v2/auth/token", "login", json=body)
        if response.status_code != 200:
            raise fail(self.name, response, f"login as {self.credentials.username}")
        self.http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        self._logged_in = True

    async def inventory(self, repository: str) -> Inventory:
        namespace, name = split_namespace(repository)
        url: str | None = f"/v2/namespaces/{namespace}/repositories/{name}/tags?page_size=100"
        tags: dict[str, str] = {}
        manifests: dict[str, Manifest] = {}
        while url:
            response = await self._call("GET", url, f"listing tags of {repository}")
            if response.status_code != 200:
                raise fail(self.name, response, f"listing tags of docker.io/{repository}")
            page = response.json()
            for row in page.get("results", []):
                digest = row.get("digest") or ""
                pushed = row.get("tag_last_pushed") or row.get("last_updated")
                created = datetime.fromisoformat(pushed.replace("Z", "+00:00")) if pushed else None
                artifact = artifact_tag(row["name"])
                if artifact:
                    manifests[digest] = Manifest(digest, created=created, subject=artifact[0], artifact=artifact[1], tag=row["name"])
                    continue
                images = [i["digest"] for i in row.get("images") or [] if i.get("digest") and i.get("digest") != digest]
                manifests.setdefault(digest, Manifest(digest, row.get("media_type", ""), created, tuple(images)))
                tags[row["name"]] = digest
            url = page.get("next")
        return Inventory(f"docker.io/{repository}", dict(sorted(tags.items())), manifests, deletes_tags_individually=True)

    async def delete(self, repository: str, item: str) -> None:
        namespace, name = split_namespace(repository)
        response = await self._call("DELETE", f"/v2/namespaces/{namespace}/repositories/{name}/tags/{item}", f"deleting tag {item}")
        if response.status_code not in (200, 202, 204, 404):
            raise fail(self.name, response, f"deleting docker.io/{repository}:{item}")

    async def update_description(self, repository: str, readme: str, short: str = "") -> dict[str, Any]:
        """Set the repository overview (and, if given, the short description)."""
        validate_description(readme, short)
        namespace, name = split_namespace(repository)
        body: dict[str, str] = {"full_description": readme}
        if short:
            body["description"] = short
        response = await self._call(
            "PATCH", f"/v2/repositories/{namespace}/{name}/", f"updating the description of {repository}", json=body
        )
        if response.status_code != 200:
            raise fail(self.name, response, f"updating the description of docker.io/{repository}")
        data: dict[str, Any] = response.json()
        return data
