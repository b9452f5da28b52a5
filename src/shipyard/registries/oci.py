"""The OCI distribution API: list tags, read manifests and configs, delete manifests by digest."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import anyio
import httpx

from shipyard.errors import RegistryError
from shipyard.registries.http import (
    DEFAULT_TIMEOUT,
    RETRY_STATUSES,
    ApiClient,
    ChallengeAuth,
    RetryableStatus,
    fail,
    next_link,
    transport_failure,
)
from shipyard.retention.inventory import Inventory, Manifest, artifact_kind, artifact_tag
from shipyard.secrets import Credentials
from shipyard.values.refs import Registry, parse_repository

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json")
ACCEPT = ", ".join(INDEX_TYPES + MANIFEST_TYPES)
CREATED_ANNOTATION = "org.opencontainers.image.created"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class FetchedManifest:
    digest: str
    media_type: str
    body: dict[str, Any]

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES or "manifests" in self.body


class OciRegistry(ApiClient):
    """An async client for one registry; use as ``async with OciRegistry(...) as reg``.

    ``registry`` is the name users write (and errors show), a :class:`Registry` value (which
    decides http or https) or its name; ``address`` where this process reaches it, when that
    differs (a module reaches a loopback registry through a service).
    """

    def __init__(
        self,
        registry: str | Registry,
        credentials: Credentials | None = None,
        *,
        address: str | None = None,
        retries: int = 3,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        target = registry if isinstance(registry, Registry) else Registry(registry)
        self.registry = target.name
        super().__init__(
            target.base_url(address),
            auth=ChallengeAuth(target.name, credentials),
            follow_redirects=True,
            retries=retries,
            retry_base=0.2,
            timeout=timeout,
            transport=transport,
        )

    @property
    def name(self) -> str:
        return self.registry

    async def list_tags(self, repository: str) -> list[str]:
        tags: list[str] = []
        url: str | None = f"/v2/{repository}/tags/list?n=1000"
        while url:
            response = await self.send("GET", url, f"listing tags of {repository}")
            if response.status_code == 404:
                if tags:
                    return tags
                raise RegistryError(self.registry, f"repository {repository} not found (check the name)", 404)
            if response.status_code != 200:
                raise fail(self.registry, response, f"listing tags of {repository}")
            tags += response.json().get("tags") or []
            url = next_link(response)
        return tags

    async def manifest(self, repository: str, reference: str) -> FetchedManifest | None:
        """The manifest at a tag or digest, or ``None`` if it does not exist."""
        response = await self.send(
            "GET", f"/v2/{repository}/manifests/{reference}", f"reading {repository}:{reference}", headers={"Accept": ACCEPT}
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise fail(self.registry, response, f"reading manifest {repository}:{reference}")
        digest = response.headers.get("docker-content-digest") or "sha256:" + hashlib.sha256(response.content).hexdigest()
        body = json.loads(response.content)
        media_type = response.headers.get("content-type", "").split(";")[0] or body.get("mediaType", "")
        return FetchedManifest(digest, media_type, body)

    async def blob_exists(self, repository: str, digest: str) -> bool:
        response = await self.send("HEAD", f"/v2/{repository}/blobs/{digest}", f"checking blob {digest}")
        if response.status_code in (200, 404):
            return response.status_code == 200
        raise fail(self.registry, response, f"checking blob {digest} in {repository}")

    async def mount_blob(self, repository: str, digest: str, source: str) -> bool:
        """Mount a blob another repository of this registry holds (``POST …/blobs/uploads/?mount=
        &from=``): True when the registry did (201); False when it refused and opened an upload
        instead (202, which is cancelled: the caller uploads), or answered otherwise."""
        url = f"/v2/{repository}/blobs/uploads/?mount={quote(digest, safe='')}&from={quote(source, safe='/')}"
        response = await self.send("POST", url, f"mounting {digest} from {source} into {repository}")
        if response.status_code == 201:
            return True
        if response.status_code == 202 and "location" in response.headers:
            await self.send("DELETE", response.headers["location"], f"cancelling the upload of {digest} to {repository}")
        return False

    async def ensure_blob(self, repository: str, digest: str, read: Callable[[], Awaitable[bytes]], mount_from: Sequence[str] = ()) -> None:
        """A blob the repository lacks: mounted from each of ``mount_from`` in turn (repositories of
        this registry), else uploaded, its bytes read (``read``) only then."""
        if await self.blob_exists(repository, digest):
            return
        for source in dict.fromkeys(mount_from):
            if await self.mount_blob(repository, digest, source):
                return
        await self.push_blob(repository, digest, await read())

    async def push_blob(self, repository: str, digest: str, data: bytes, mount_from: str | None = None) -> bool:
        """Upload a blob unless the repository has it (monolithic upload: POST, then PUT); with
        ``mount_from``, mount it from that repository of the same registry first, uploading only
        when the registry refuses. True when bytes were uploaded.

        The upload is retried as a whole, from a new session (a session is used up by its PUT,
        and a registry may lose it); a retry first checks whether the lost attempt landed."""
        if await self.blob_exists(repository, digest):
            return False
        if mount_from and await self.mount_blob(repository, digest, mount_from):
            return False
        doing = f"uploading {digest} to {repository}"
        attempts = 0
        try:
            async for attempt in self.retrying():
                with attempt:
                    attempts += 1
                    if attempts > 1 and (await self.send("HEAD", f"/v2/{repository}/blobs/{digest}", doing)).status_code == 200:
                        return True
                    # Starting a session changes nothing a retry could duplicate: the transport
                    # retries it on its own, so only a lost PUT costs a whole new attempt.
                    starting = f"starting the upload of {digest} to {repository}"
                    started = await self.send("POST", f"/v2/{repository}/blobs/uploads/", starting)
                    if started.status_code in RETRY_STATUSES:
                        raise fail(self.registry, started, f"{starting} ({self.retries + 1} attempts)")
                    if started.status_code != 202 or "location" not in started.headers:
                        raise fail(self.registry, started, f"starting the upload of {digest} to {repository}")
                    location = started.headers["location"]  # keeps its own query (the upload state): append to it
                    finished = await self.request_once(  # a session is used up by its PUT: retried as a whole
                        "PUT",
                        location + ("&" if "?" in location else "?") + "digest=" + quote(digest, safe=""),
                        content=data,
                        headers={"Content-Type": "application/octet-stream"},
                    )
                    if finished.status_code in RETRY_STATUSES or finished.status_code == 404:  # 404: the session was lost
                        raise RetryableStatus(finished)
                    if finished.status_code not in (201, 204):
                        raise fail(self.registry, finished, doing)
                    return True
        except RetryableStatus as exc:
            raise fail(self.registry, exc.response, f"{doing} ({attempts} attempts)") from None
        except httpx.TransportError as exc:
            raise transport_failure(self.registry, doing, exc, self.timeout, attempts) from None
        raise AssertionError("unreachable: the retry context returns or raises")  # pragma: no cover

    async def referrers(self, repository: str, digest: str, artifact_type: str | None = None) -> list[dict[str, Any]] | None:
        """The descriptors of the manifests whose ``subject`` is ``digest``, from the OCI 1.1
        referrers API; ``None`` when the registry has no such API (404: use the fallback tag
        ``sha256-<hex>``). With ``artifact_type``, filtered (by the registry when it says it did,
        ``OCI-Filters-Applied``, else here)."""
        url = f"/v2/{repository}/referrers/{digest}" + (f"?artifactType={quote(artifact_type, safe='')}" if artifact_type else "")
        listed: list[dict[str, Any]] = []
        while url:
            response = await self.send("GET", url, f"listing the referrers of {repository}@{digest}", headers={"Accept": INDEX_TYPES[0]})
            if response.status_code in (404, 405, 400):
                return None
            if response.status_code != 200:
                raise fail(self.registry, response, f"listing the referrers of {repository}@{digest}")
            body = response.json()
            listed += [d for d in body.get("manifests") or [] if isinstance(d, dict)] if isinstance(body, dict) else []
            next_url = next_link(response)
            url = next_url or ""
        if artifact_type:
            listed = [d for d in listed if d.get("artifactType") == artifact_type]
        return listed

    async def put_manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> str:
        """Store a manifest under a digest or tag; returns the digest the registry reports."""
        response = await self.send(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            f"writing {repository}:{reference}",
            content=data,
            headers={"Content-Type": media_type},
        )
        if response.status_code not in (200, 201):
            raise fail(self.registry, response, f"writing manifest {repository}:{reference}")
        return response.headers.get("docker-content-digest") or "sha256:" + hashlib.sha256(data).hexdigest()

    async def manifest_bytes(self, repository: str, reference: str) -> tuple[bytes, str]:
        """A manifest's exact bytes and media type (to store them again under another tag)."""
        response = await self.send(
            "GET", f"/v2/{repository}/manifests/{reference}", f"reading {repository}:{reference}", headers={"Accept": ACCEPT}
        )
        if response.status_code != 200:
            raise fail(self.registry, response, f"reading manifest {repository}:{reference}")
        body = json.loads(response.content)
        return response.content, response.headers.get("content-type", "").split(";")[0] or body.get("mediaType", "")

    async def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The digest a tag names (``HEAD``), or ``None`` when the tag or repository does not exist."""
        response = await self.send(
            "HEAD", f"/v2/{repository}/manifests/{reference}", f"reading {repository}:{reference}", headers={"Accept": ACCEPT}
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200 or "docker-content-digest" not in response.headers:
            fetched = await self.manifest(repository, reference)
            return fetched.digest if fetched else None
        return str(response.headers["docker-content-digest"])

    async def blob_json(self, repository: str, digest: str) -> dict[str, Any]:
        response = await self.send("GET", f"/v2/{repository}/blobs/{digest}", f"reading blob {digest}")
        if response.status_code != 200:
            raise fail(self.registry, response, f"reading blob {digest} of {repository}")
        data = response.json()
        return data if isinstance(data, dict) else {}

    async def delete_tag(self, repository: str, tag: str) -> bool:
        """Remove one tag, never the manifest (OCI distribution 1.1 ``DELETE`` by tag). False when
        the registry cannot (distribution 2.x answers 400 DIGEST_INVALID, others 405 or
        UNSUPPORTED): deleting by digest instead would remove every tag of that manifest."""
        if tag.startswith("sha256:"):
            raise ValueError(f"delete_tag takes a tag, not a digest ({tag})")
        response = await self.send("DELETE", f"/v2/{repository}/manifests/{tag}", f"deleting the tag {repository}:{tag}")
        if response.status_code in (200, 202, 404):
            return True
        if response.status_code in (400, 405) or "UNSUPPORTED" in response.text:
            return False
        raise fail(self.registry, response, f"deleting the tag {repository}:{tag}")

    async def blob_bytes(self, repository: str, digest: str) -> bytes:
        """A blob's bytes (a layer a rebuild check compares: the small ones a build step wrote)."""
        response = await self.send("GET", f"/v2/{repository}/blobs/{digest}", f"reading blob {digest}")
        if response.status_code != 200:
            raise fail(self.registry, response, f"reading blob {digest} of {repository}")
        return response.content

    async def delete_manifest(self, repository: str, digest: str) -> None:
        response = await self.send("DELETE", f"/v2/{repository}/manifests/{digest}", f"deleting {digest}")
        if response.status_code not in (200, 202, 404):
            raise fail(self.registry, response, f"deleting {repository}@{digest}")

    async def created(self, repository: str, fetched: FetchedManifest) -> datetime | None:
        """When an image was built: its created annotation, else its config's ``created``."""
        annotation = (fetched.body.get("annotations") or {}).get(CREATED_ANNOTATION)
        if annotation:
            return _parse_time(annotation)
        if fetched.is_index:
            return None
        config = fetched.body.get("config") or {}
        if not config.get("digest") or config.get("mediaType", "").endswith("cosign.signature.v1+json"):
            return None
        value = (await self.blob_json(repository, config["digest"])).get("created")
        return _parse_time(value) if isinstance(value, str) else None


async def _add_api_referrers(reg: OciRegistry, repo: str, manifests: dict[str, Manifest], lock: anyio.Lock) -> None:
    """Where the registry has the OCI 1.1 referrers API, the artifacts it lists for each image
    (no fallback tag names them there). The first image's answer says whether the API exists."""
    subjects = [d for d, m in manifests.items() if not m.artifact]
    if not subjects or await reg.referrers(repo, subjects[0]) is None:
        return

    async def add(subject: str) -> None:
        for descriptor in await reg.referrers(repo, subject) or []:
            kind = artifact_kind(descriptor.get("artifactType", ""))
            async with lock:
                known = manifests.get(descriptor["digest"])
                if known is None or not known.artifact:
                    manifests[descriptor["digest"]] = Manifest(
                        descriptor["digest"], descriptor.get("mediaType", ""), subject=subject, artifact=kind
                    )

    async with anyio.create_task_group() as tg:
        for subject in subjects:
            tg.start_soon(add, subject)


def _parse_time(value: str) -> datetime | None:
    """A build time, or ``None`` when absent or a placeholder (at or before the Unix epoch:
    tools write 0001-01-01, and reproducible builds without a commit time write 1970-01-01)."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed if parsed > EPOCH else None


async def read_inventory(reg: OciRegistry, repository: str) -> Inventory:
    """Read tags, the manifests they reach, and artifacts: cosign's ``sha256-<digest>.sig|.att|.sbom``
    tags and OCI 1.1 referrers fallback indexes (``sha256-<digest>``).

    The distribution API cannot list untagged manifests; untagged images are found through
    the artifact tags that name them (the usual leftover of a moved tag).
    """
    repo = parse_repository(f"{reg.registry}/{repository}").repository
    all_tags = await reg.list_tags(repo)
    manifests: dict[str, Manifest] = {}
    tags: dict[str, str] = {}
    artifact_tags = [(t, a) for t in all_tags if (a := artifact_tag(t))]
    image_tags = [t for t in all_tags if not artifact_tag(t)]
    lock = anyio.Lock()

    async def add_image(reference: str) -> str | None:
        fetched = await reg.manifest(repo, reference)
        if fetched is None:
            return None
        async with lock:
            if fetched.digest in manifests:
                return fetched.digest
        children = tuple(m["digest"] for m in fetched.body.get("manifests", [])) if fetched.is_index else ()
        created = await reg.created(repo, fetched)
        for child in children:
            child_manifest = await reg.manifest(repo, child)
            child_created = await reg.created(repo, child_manifest) if child_manifest else None
            created = created or child_created
            async with lock:
                manifests.setdefault(child, Manifest(child, child_manifest.media_type if child_manifest else "", child_created))
        async with lock:
            manifests[fetched.digest] = Manifest(fetched.digest, fetched.media_type, created, children)
        return fetched.digest

    async def add_tag(tag: str) -> None:
        digest = await add_image(tag)
        if digest:
            async with lock:
                tags[tag] = digest

    async with anyio.create_task_group() as tg:
        for tag in image_tags:
            tg.start_soon(add_tag, tag)

    async def add_artifact(tag: str, subject: str, kind: str) -> None:
        fetched = await reg.manifest(repo, tag)
        if fetched is None:
            return
        listed = fetched.body.get("manifests", []) if kind == "referrers" else []
        async with lock:
            children = tuple(d["digest"] for d in listed)
            manifests[fetched.digest] = Manifest(fetched.digest, fetched.media_type, None, children, subject=subject, artifact=kind)
            for descriptor in listed:
                referrer_kind = artifact_kind(descriptor.get("artifactType", ""))
                manifests[descriptor["digest"]] = Manifest(
                    descriptor["digest"], descriptor.get("mediaType", ""), subject=subject, artifact=referrer_kind
                )
            known = subject in manifests
        if not known:
            await add_image(subject)  # an untagged image, or None if it is gone (orphaned artifact)

    async with anyio.create_task_group() as tg:
        for tag, (subject, kind) in artifact_tags:
            tg.start_soon(add_artifact, tag, subject, kind)
    await _add_api_referrers(reg, repo, manifests, lock)
    return Inventory(repository=f"{reg.registry}/{repo}", tags=dict(sorted(tags.items())), manifests=manifests)
