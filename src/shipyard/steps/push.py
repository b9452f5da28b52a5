"""Push the assembled release by digest to every target, registries concurrently; no tag moves.

Blobs go once per registry (a HEAD first; at most 8 requests in flight), then the platform
manifests, then the index, read from the OCI layout on local disk. Several targets on one
registry: the first uploads each blob, the others mount it from there (a cross-repository
mount, no bytes sent), uploading only what the registry will not mount. A blob this machine
pushed to another repository of the registry before is mounted from there too
(``registries/blob_locations.py``, as Docker's push does). Requests the registry fails
with 429/5xx are retried with backoff; the whole push is idempotent, so a re-run after a failure
uploads only what is missing. A required target that fails fails the release; an optional one
is reported and skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio

from shipyard.errors import GateFailed, ShipyardError, shipyard_error_in
from shipyard.oci_layout import OciLayout
from shipyard.registries.blob_locations import BlobLocations, default_path
from shipyard.registries.oci import OciRegistry
from shipyard.release.image import AssembledRelease, Descriptor
from shipyard.release.plan import PlannedTarget
from shipyard.reports.events import SILENT, Progress
from shipyard.steps.context import ReleaseContext
from shipyard.values.refs import parse_repository


async def run(ctx: ReleaseContext) -> None:
    """The ``push`` step: the release by digest to every active target; a required target that fails stops the release."""
    made = ctx.artifacts
    assert made.release is not None
    locations = BlobLocations(default_path())
    made.pushes = await push_release(ctx.clients, made.release, ctx.job.plan.active_targets, ctx.job.progress, locations)
    await anyio.to_thread.run_sync(locations.save)
    failed = [p for p in made.pushes if not p.ok and not p.optional]
    if failed:
        raise GateFailed(f"push to {failed[0].repository} failed: {failed[0].error}")


@dataclass(frozen=True)
class PushResult:
    repository: str
    optional: bool
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


async def push_release(
    clients: dict[str, OciRegistry],
    release: AssembledRelease,
    targets: Sequence[PlannedTarget],
    progress: Progress = SILENT,
    locations: BlobLocations | None = None,
) -> list[PushResult]:
    """Push to every target; returns one result per target (in the targets' order). ``progress``
    hears, per target, the blobs and bytes sent so far; ``locations`` names repositories of a
    registry that hold a blob already (mounted from), and hears where the blobs are now."""
    locations = locations or BlobLocations(None)
    results: dict[str, PushResult] = {}
    sources: dict[str, tuple[str, anyio.Event]] = {}  # registry -> (the repository that uploads, its blobs are in)
    for target in targets:
        sources.setdefault(target.registry, (parse_repository(target.repository).repository, anyio.Event()))

    async def one(target: PlannedTarget) -> None:
        def sent(blobs: int, blobs_total: int, size: int, size_total: int) -> None:
            progress.pushed(target.repository, blobs, blobs_total, size, size_total)

        repository = parse_repository(target.repository).repository
        source, uploaded = sources[target.registry]
        try:

            def known(digest: str) -> str | None:
                return locations.source(target.registry, digest, repository)

            if repository == source:
                pushed = await push_layout(clients[target.registry], release, repository, sent, blobs_done=uploaded, known=known)
            else:
                await uploaded.wait()
                pushed = await push_layout(clients[target.registry], release, repository, sent, mount_from=source, known=known)
            locations.record(target.registry, repository, pushed)
            results[target.repository] = PushResult(target.repository, target.optional)
        except Exception as exc:  # a registry's error, possibly inside a task group's exception group
            error = shipyard_error_in(exc)
            if error is None:
                raise
            results[target.repository] = PushResult(target.repository, target.optional, error=str(error))
        finally:
            if repository == source:
                uploaded.set()  # done or failed: the others mount what is there and upload the rest

    async with anyio.create_task_group() as group:
        for target in targets:
            group.start_soon(one, target)
    return [results[t.repository] for t in targets]


async def push_layout(
    client: OciRegistry,
    release: AssembledRelease,
    repository: str,
    sent: Callable[[int, int, int, int], None] | None = None,
    *,
    mount_from: str | None = None,
    blobs_done: anyio.Event | None = None,
    known: Callable[[str], str | None] | None = None,
) -> list[str]:
    """Blobs (mounted from ``mount_from``, or from the repository ``known`` names for a blob,
    where the registry will), then platform manifests, then the index, all by digest;
    ``sent(blobs, of, bytes, of)`` after each blob; ``blobs_done`` is set once the blobs are in.
    Returns the blobs' digests (the repository holds them all now)."""
    blobs = OciLayout(Path(release.layout))
    manifests = {d.digest: d for d in release.manifests.values()}
    referenced: dict[str, int] = {}
    for descriptor in manifests.values():
        body = blobs.read_json(descriptor.digest)
        for item in [body["config"], *body["layers"]]:
            referenced.setdefault(item["digest"], int(item.get("size", 0)))
    done = [0, 0]
    total = sum(referenced.values())

    async def blob(digest: str) -> None:
        await _push_blob(client, repository, blobs, digest, [s for s in (mount_from, known(digest) if known else None) if s])
        done[0] += 1
        done[1] += referenced[digest]
        if sent is not None:
            sent(done[0], len(referenced), done[1], total)

    if sent is not None:
        sent(0, len(referenced), 0, total)
    async with anyio.create_task_group() as group:
        for digest in referenced:
            group.start_soon(blob, digest)
    if blobs_done is not None:
        blobs_done.set()
    async with anyio.create_task_group() as group:
        for descriptor in manifests.values():
            group.start_soon(_push_manifest, client, repository, blobs, descriptor)
    pushed = await _push_manifest(client, repository, blobs, release.index)
    if pushed != release.index.digest:
        raise ShipyardError(f"registry {client.registry} stored the index of {repository} as {pushed}, not {release.index.digest}")
    return list(referenced)


async def _push_manifest(client: OciRegistry, repository: str, blobs: OciLayout, descriptor: Descriptor) -> str:
    """Store a manifest by digest unless the repository already has it (a re-run sends nothing)."""
    if await client.manifest_digest(repository, descriptor.digest) == descriptor.digest:
        return descriptor.digest
    return await client.put_manifest(repository, descriptor.digest, blobs.read_blob(descriptor.digest), descriptor.media_type)


async def _push_blob(client: OciRegistry, repository: str, blobs: OciLayout, digest: str, mount_from: Sequence[str]) -> None:
    await client.ensure_blob(repository, digest, lambda: anyio.to_thread.run_sync(blobs.read_blob, digest), mount_from)
