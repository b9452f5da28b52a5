"""Run the release's step list (``release/steps.py``) over one context, and turn the outcome into the report.

The list says the order and what runs at once; each name is bound here to its runner, whose
code lives in ``steps/<module>.py`` (RUNNERS); a step never re-decides what the plan decided.
While the build runs, the tool images are pulled ahead (``steps/prefetch.py``). A failure before
the promotion leaves every tag on every registry where it was, and the report says so once.

The build may be split across engines (``--builder``): each builder engine builds its platforms
and exports them, like the default engine does its own; everything after the export (assembly,
push, signing, tags) runs in the default session only, so the release is the same. Or it ran
before, elsewhere (``build`` on each runner of a CI matrix, then ``publish --from``): the
release is then assembled from those layouts, and everything after is the same again.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import anyio
import dagger
from dagger import dag

from shipyard.errors import InvalidInput, ShipyardError, shipyard_error_in
from shipyard.output_dir import OutputDir
from shipyard.registries.http import DEFAULT_TIMEOUT
from shipyard.registries.oci import OciRegistry
from shipyard.release.image import platform_key
from shipyard.release.layouts import RECORD_FILE, BuildRecord, BuildReport
from shipyard.release.steps import (
    BUILD,
    CHECK_RELEASE_TAGS,
    PROMOTE,
    PROVENANCE,
    PUSH,
    RELEASE,
    SBOM,
    SCAN,
    SIGN,
    SMOKE,
    AtOnce,
    InOrder,
    Stage,
    Step,
    all_steps,
)
from shipyard.reports.github import without_trace_ids
from shipyard.reports.report import PublishReport, RebuildReport, TargetReport
from shipyard.steps import assemble, prefetch, promote, provenance, push, sbom, scan, sign, smoke
from shipyard.steps.assemble import default_layer_cache, export_platform_images, write_platform_layout
from shipyard.steps.base import base_layers
from shipyard.steps.build import BuildSpec, build_platforms
from shipyard.steps.context import ReleaseArtifacts, ReleaseContext, ReleaseJob, SplitBuild
from shipyard.steps.explain import explain_platform
from shipyard.steps.promote import PromotionInterrupted, TargetTags
from shipyard.steps.tools import RegistryAccess
from shipyard.tagging.labels import oci_annotations
from shipyard.values.platforms import Platform
from shipyard.values.refs import ImageRef

__all__ = [
    "RUNNERS",
    "BuildState",
    "ReleaseJob",
    "SplitBuild",
    "ran_steps",
    "registry_client",
    "run_build",
    "run_publish",
    "run_rebuild_check",
    "run_stage",
]

# A release's registry requests are retried harder than cleanup's: a push is idempotent, and a
# registry that fails half its requests (an overloaded mirror, a flaky proxy) must still converge.
RELEASE_RETRIES = 8

# What a release that stopped before its tags moved says, once, after the error that stopped it.
NO_TAG_MOVED = "no tag was moved on any registry"

Runner = Callable[[ReleaseContext], Awaitable[None]]

# Each step of the list, bound to its runner (its module under steps/); a unit test checks one per step.
RUNNERS: Mapping[str, Runner] = {
    BUILD.name: assemble.run,
    CHECK_RELEASE_TAGS.name: promote.run_check_release_tags,
    SCAN.name: scan.run,
    SMOKE.name: smoke.run,
    PUSH.name: push.run,
    SBOM.name: sbom.run,
    PROVENANCE.name: provenance.run,
    SIGN.name: sign.run,
    PROMOTE.name: promote.run,
}


async def run_publish(job: ReleaseJob) -> PublishReport:
    """Run the release; a failure is reported (``report.ok`` false), never half-applied."""
    ctx = ReleaseContext.for_job(job)
    ctx.artifacts.started = provenance.now()
    async with contextlib.AsyncExitStack() as stack:
        for registry in sorted({t.registry for t in job.plan.active_targets}):
            ctx.clients[registry] = await stack.enter_async_context(registry_client(job.access, registry, job.registry_timeout))
        try:
            async with anyio.create_task_group() as ahead:
                ahead.start_soon(prefetch.run, ctx)  # while the build runs; cancelled once the release is done
                try:
                    await job.access.authenticate_engine()  # the engine's own pulls (FROM a registry that wants credentials)
                    await run_stage(ctx, RELEASE)
                finally:
                    ahead.cancel_scope.cancel()
        except Exception as exc:  # a ShipyardError, possibly inside a task group's exception group
            error = shipyard_error_in(exc)
            if error is None or isinstance(error, InvalidInput):
                raise error or exc from None
            if isinstance(error, PromotionInterrupted):
                ctx.artifacts.interrupted = error.exit_code
            stopped = without_trace_ids(str(error))
            if PROMOTE.name not in ctx.artifacts.ran:  # the release stopped before any tag could move
                stopped = f"{stopped}; {NO_TAG_MOVED}"
            return _report(ctx, error=stopped)
    return _report(ctx)


async def run_stage(ctx: ReleaseContext, stage: Stage) -> None:
    """A part of the step list: a step (if the plan enables it), parts in order, or parts at once
    (the first failure cancels the others, so no later step starts and no tag moves)."""
    if isinstance(stage, Step):
        if stage.enabled(ctx.job.plan):
            await _timed(ctx, stage.name, RUNNERS[stage.name])
    elif isinstance(stage, InOrder):
        for part in stage.parts:
            await run_stage(ctx, part)
    elif isinstance(stage, AtOnce):
        async with anyio.create_task_group() as group:
            for part in stage.parts:
                group.start_soon(run_stage, ctx, part)


def ran_steps(artifacts: ReleaseArtifacts) -> tuple[str, ...]:
    """The steps that started, in the list's order (concurrent ones as listed): the report's ``steps``."""
    return tuple(step.name for step in all_steps() if step.name in artifacts.ran)


def registry_client(access: RegistryAccess, registry: str, timeout: float = DEFAULT_TIMEOUT) -> OciRegistry:
    """A client for one registry as this process reaches it (direct, or through the engine's tunnel)."""
    endpoint = access.endpoint(registry)
    return OciRegistry(
        endpoint.target,
        access.credentials.get(registry),
        address=endpoint.direct,
        retries=RELEASE_RETRIES,
        timeout=timeout,
    )


async def _timed(ctx: ReleaseContext, name: str, step: Runner) -> None:
    made, progress = ctx.artifacts, ctx.job.progress
    made.ran.append(name)
    started = time.monotonic()
    progress.step_started(name)
    error: str | None = "cancelled"
    try:
        await step(ctx)
        error = None
    except BaseException as exc:
        found = shipyard_error_in(exc) if isinstance(exc, Exception) else None
        error = (
            without_trace_ids(str(found))
            if found is not None
            else ("cancelled" if isinstance(exc, anyio.get_cancelled_exc_class()) else repr(exc))
        )
        raise
    finally:
        made.timings[name] = time.monotonic() - started
        progress.step_finished(name, made.timings[name], error)


@dataclass
class BuildState:
    """``build``: what to build, where to write it, and how to describe it in its record."""

    source: dagger.Directory
    build: BuildSpec
    platforms: tuple[Platform, ...]
    workdir: Path
    out: Path
    record: Callable[[dict[Platform, str], str], BuildRecord]  # (platform -> digest, engine version) -> the record
    commit: str
    source_url: str
    source_date_epoch: int
    progress_log: Path | None = None


async def run_build(state: BuildState) -> BuildReport:
    """Build the platforms and write them, normalised as a release would be, as one OCI layout
    in ``state.out`` with its record; nothing is pushed. A failed build is reported."""
    output = OutputDir(state.out)
    try:
        spec = state.build
        base = await base_layers(state.source, spec.dockerfile_text, spec.target, spec.build_args, state.platforms, state.workdir)
        containers = await build_platforms(state.source, state.build, state.platforms, state.progress_log)
        exports = await export_platform_images(containers, state.workdir)
        annotations = oci_annotations(epoch=state.source_date_epoch, revision=state.commit or None, source=state.source_url or None)
        layout = state.workdir / "build-layout"
        manifests = await anyio.to_thread.run_sync(
            lambda: write_platform_layout(
                exports,
                epoch=state.source_date_epoch,
                annotations=annotations,
                layout=layout,
                base_layers=base,
                layer_cache=default_layer_cache(),
            )
        )
        record = state.record({p: d.digest for p, d in manifests.items()}, await dag.version())
    except Exception as exc:  # a ShipyardError, possibly inside a task group's exception group
        error = shipyard_error_in(exc)
        if error is None:
            raise
        output.remove(RECORD_FILE)  # an earlier build's record would pass its layout off as this one's
        return BuildReport(out=str(state.out), record=None, error=str(error))
    await anyio.to_thread.run_sync(output.copy_tree_into, layout, ("blobs", "index.json", "oci-layout"))  # beside the engine log
    output.write_text(RECORD_FILE, record.dumps())
    return BuildReport(out=str(state.out), record=record)


def _report(ctx: ReleaseContext, error: str | None = None) -> PublishReport:
    plan, made = ctx.job.plan, ctx.artifacts
    release = made.release
    pushes = {p.repository: p for p in made.pushes}
    tags = {t.repository: t for t in made.tags}
    targets: list[TargetReport] = []
    for target in plan.targets:
        if not target.active:
            targets.append(TargetReport(target.repository, "skipped", optional=target.optional, error=target.skipped))
            continue
        push = pushes.get(target.repository)
        written = tags.get(target.repository)
        digest = release.index.digest if release else ""
        message: str | None
        if push is None:
            status, message = "failed", "not pushed: the release stopped before this target"
        elif not push.ok:
            status, message = "failed", push.error
        elif written is not None and written.error is not None:
            status, message = "failed", written.error
        elif error is not None:
            status, message = "failed", "pushed by digest, but the release failed (see the error); " + _tags_left(written, digest)
        else:
            status, message = "published", None
        targets.append(
            TargetReport(
                repository=target.repository,
                status=status,
                digest=release.index.digest if release and push and push.ok else None,
                tags=written.at(digest) if written else (),
                tags_held_back=tuple(h.to_dict() for h in written.held_back) if written and not written.undone else (),
                tag_changes=tuple(written.changes(digest)) if written else (),
                optional=target.optional,
                error=message,
            )
        )
    return PublishReport(
        version=plan.version,
        digest=release.index.digest if release else None,
        platforms=tuple(
            {"platform": str(p), "digest": d.digest, "engine": _engine_of(ctx.job, p)}
            for p, d in (release.manifests.items() if release else [])
        ),
        targets=tuple(targets),
        tags=plan.tags,
        size=release.size if release else 0,
        timings=made.timings,
        notices=(*plan.notices, *made.notices),
        error=error,
        exit_code=made.interrupted,
        stages=tuple(stage.describe() for stage in plan.stages),
        signatures=tuple(
            {"repository": r, "reference": ref, "recursive": "true"}
            | ({"identity": made.signed_by[0], "issuer": made.signed_by[1]} if made.signed_by else {})
            for r, ref in made.signatures.items()
        ),
        attestations=tuple(made.attestations),
        scan={**made.scan.to_dict(), "sarif": made.sarif or None} if made.scan else None,
        smoke=made.smoke.to_dict() if made.smoke else None,
        sboms=tuple(made.sbom_files),
        steps=ran_steps(made),
        files=ctx.output.files,
    )


def _engine_of(job: ReleaseJob, platform: Platform) -> str:
    """Where a platform was built: the default engine, a --builder's address, or a layout's runner."""
    for layout in job.layouts:
        if platform in layout.images():
            return f"{layout.record.runner or layout.record.engine} (--from {layout.name})"
    return job.plan.builders.get(str(platform), "default")


def _tags_left(target: TargetTags | None, digest: str) -> str:
    """What the failed release left on one target, from the tags read back."""
    if target is None or not target.tags:
        return "no tag was moved"
    named = target.at(digest)
    return f"tags still naming the release: {', '.join(named)}" if named else "no tag names the release"


async def run_rebuild_check(job: ReleaseJob, published: ImageRef) -> RebuildReport:
    """Build and assemble exactly as a release would, then compare with the published index."""
    reference = str(published)
    ctx = ReleaseContext(job)  # no output directory: a rebuild check writes nothing but its report
    try:
        async with registry_client(job.access, published.registry) as client:
            fetched = await client.manifest(published.repository, published.digest or published.tag or "latest")
        if fetched is None or not fetched.is_index:
            return RebuildReport(reference, None, None, (), error=f"{reference} is not a published multi-platform index")
        await job.access.authenticate_engine()
        await assemble.run(ctx)
    except Exception as exc:  # a ShipyardError, possibly inside a task group's exception group
        error = shipyard_error_in(exc)
        if error is None:
            raise
        return RebuildReport(reference, None, None, (), error=str(error))
    release = ctx.artifacts.release
    assert release is not None
    was = {_platform_of(m.get("platform", {})): m["digest"] for m in fetched.body.get("manifests", [])}
    now = {p: d.digest for p, d in release.manifests.items()}
    rows = tuple(
        {"platform": str(p), "published": was.get(p), "rebuilt": now.get(p)} for p in sorted(set(was) | set(now), key=platform_key)
    )
    differences = []
    async with registry_client(job.access, published.registry) as client:
        for p in sorted(set(was) & set(now), key=platform_key):
            if was[p] != now[p]:
                try:
                    differences.append(await explain_platform(client, published.repository, was[p], release, p))
                except ShipyardError as exc:  # the verdict stands without the explanation
                    differences.append({"platform": str(p), "error": str(exc), "config": [], "layers": []})
    return RebuildReport(reference, fetched.digest, release.index.digest, rows, differences=tuple(differences))


def _platform_of(entry: dict[str, str]) -> Platform:
    return Platform(entry.get("os", ""), entry.get("architecture", ""), entry.get("variant", ""))
