"""GHCR cleanup through the GitHub Packages REST API.

Versions (digests, with their tags and push times) come from
``GET /{orgs|users}/{owner}/packages/container/{package}/versions``, deletes go to
``DELETE .../versions/{id}``. Index children are read from the registry itself (ghcr.io's
OCI API), because deleting an "untagged" version that is a platform manifest of a kept
multi-arch image is exactly the mistake this backend must never make.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from shipyard.errors import RegistryError
from shipyard.registries.http import ApiClient, fail, next_link
from shipyard.registries.oci import OciRegistry
from shipyard.retention.inventory import Inventory, Manifest, artifact_tag
from shipyard.secrets import Credentials
from shipyard.values.refs import split_namespace

GITHUB_API = "https://api.github.com"


class GhcrBackend(ApiClient):
    """``async with GhcrBackend(credentials, registry) as backend``; needs a token with
    ``read:packages`` (and ``delete:packages`` to apply)."""

    def __init__(self, credentials: Credentials | None, registry: OciRegistry, api_url: str = "") -> None:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        if credentials:
            headers["Authorization"] = f"Bearer {credentials.password.reveal()}"
        super().__init__(api_url or GITHUB_API, headers=headers)
        self.registry = registry
        self._version_ids: dict[str, int] = {}
        self._versions_path: dict[str, str] = {}

    async def _versions(self, owner: str, package: str) -> tuple[str, list[dict[str, Any]]]:
        encoded = quote(package, safe="")
        for kind in ("orgs", "users"):
            path = f"/{kind}/{owner}/packages/container/{encoded}/versions"
            url: str | None = f"{path}?per_page=100"
            versions: list[dict[str, Any]] = []
            while url:
                response = await self.send("GET", url, f"listing versions of {owner}/{package}")
                if response.status_code == 404 and kind == "orgs" and not versions:
                    break  # not an organization: try the user namespace
                if response.status_code != 200:
                    raise fail(self.name, response, f"listing versions of {self.registry.registry}/{owner}/{package}")
                versions += response.json()
                url = next_link(response)
            else:
                return path, versions
        raise RegistryError(self.name, f"package {self.registry.registry}/{owner}/{package} not found (check --image)", 404)

    async def inventory(self, repository: str) -> Inventory:
        owner, package = split_namespace(repository)
        path, versions = await self._versions(owner, package)
        self._versions_path[repository] = path
        manifests: dict[str, Manifest] = {}
        tags: dict[str, str] = {}
        for version in versions:
            digest = version["name"]
            self._version_ids[digest] = int(version["id"])
            created = datetime.fromisoformat(version["created_at"].replace("Z", "+00:00"))
            version_tags = version.get("metadata", {}).get("container", {}).get("tags", [])
            artifact = next((a for t in version_tags if (a := artifact_tag(t))), None)
            if artifact:
                tag = next(t for t in version_tags if artifact_tag(t))
                listed: tuple[str, ...] = ()
                if artifact[1] == "referrers":  # an index listing the subject's referrers
                    fetched_index = await self.registry.manifest(repository, digest)
                    listed = tuple(m["digest"] for m in fetched_index.body.get("manifests", [])) if fetched_index else ()
                manifests[digest] = Manifest(digest, created=created, children=listed, subject=artifact[0], artifact=artifact[1], tag=tag)
                continue
            fetched = await self.registry.manifest(repository, digest)
            children = tuple(m["digest"] for m in fetched.body.get("manifests", [])) if fetched and fetched.is_index else ()
            manifests[digest] = Manifest(digest, fetched.media_type if fetched else "", created, children)
            tags.update({t: digest for t in version_tags})
        for manifest in list(manifests.values()):
            for child in manifest.children:
                manifests.setdefault(child, Manifest(child))
        return Inventory(repository=f"{self.registry.registry}/{repository}", tags=dict(sorted(tags.items())), manifests=manifests)

    async def delete(self, repository: str, item: str) -> None:
        version_id = self._version_ids.get(item)
        if version_id is None:
            return  # not a package version of its own (already gone)
        url = f"{self._versions_path[repository]}/{version_id}"
        response = await self.send("DELETE", url, f"deleting version {version_id}")
        if response.status_code not in (204, 404):
            raise fail(self.name, response, f"deleting {self.registry.registry}/{repository} version {version_id} ({item[:19]})")
