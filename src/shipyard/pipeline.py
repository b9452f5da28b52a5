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
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import dagger
from dagger import dag

from shipyard.errors import InvalidInput, ShipyardError, shipyard_error_in
from shipyard.gates.scan import evaluate_gate
from shipyard.output_dir import OutputDir
from shipyard.registries.http import DEFAULT_TIMEOUT
from shipyard.registries.oci import FetchedManifest, OciRegistry
from shipyard.release.config import ScanPolicy, ToolImages
from shipyard.release.image import Descriptor, platform_key
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
from shipyard.reports.verification import PER_PLATFORM, Check, VerifyReport, expected_checks, inspect_image, signed_digests
from shipyard.steps import assemble, prefetch, promote, provenance, push, sbom, scan, sign, smoke
from shipyard.steps.assemble import export_platform_images, write_platform_layout
from shipyard.steps.base import base_layers
from shipyard.steps.build import BuildSpec, build_platforms
from shipyard.steps.context import ReleaseArtifacts, ReleaseContext, ReleaseJob, SplitBuild
from shipyard.steps.explain import explain_platform
from shipyard.steps.promote import PromotionInterrupted, TargetTags
from shipyard.steps.scan import scan_release
from shipyard.steps.tools import RegistryAccess, Sigstore
from shipyard.steps.verify import verify_attestation, verify_signature
from shipyard.supply_chain.cosign import BUNDLE_ARTIFACT_TYPE, TrustPolicy, referrers_fallback_subjects
from shipyard.tagging.labels import oci_annotations
from shipyard.values.platforms import Platform
from shipyard.values.refs import ImageRef

__all__ = [
    "RUNNERS",
    "BuildState",
    "ReleaseJob",
    "SplitBuild",
    "VerifyState",
    "ran_steps",
    "registry_client",
    "run_build",
    "run_publish",
    "run_rebuild_check",
    "run_stage",
    "run_verify",
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
        registry,
        access.credentials.get(registry),
        address=endpoint.direct,
        plain_http=True if endpoint.insecure else None,
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
            lambda: write_platform_layout(exports, epoch=state.source_date_epoch, annotations=annotations, layout=layout, base_layers=base)
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


@dataclass
class VerifyState:
    """A verification's inputs: the published reference, whom to trust, what must be there."""

    reference: ImageRef
    policy: TrustPolicy
    public_key: str | None  # the cosign public key (PEM), when verifying with a key
    attestations: tuple[str, ...]
    scan: ScanPolicy | None
    tools: ToolImages
    access: RegistryAccess
    out: Path | None = None
    sigstore: Sigstore = field(default_factory=Sigstore)  # keyless: a private Sigstore's services and trusted root


async def run_verify(state: VerifyState) -> VerifyReport:
    """Check a published release as a consumer would; every failure is reported, none raised."""
    ref = state.reference
    trusted = state.policy.describe()
    try:
        async with registry_client(state.access, ref.registry) as client:
            fetched = await client.manifest(ref.repository, ref.digest or ref.tag or "latest")
            if fetched is None:
                return VerifyReport(str(ref), None, trusted, error=f"{ref} does not exist in {ref.registry}")
            children = _platform_manifests(fetched)
            images = [
                inspect_image(str(p), d, m.body, await client.blob_json(ref.repository, m.body["config"]["digest"]))
                for p, d in children.items()
                if (m := await client.manifest(ref.repository, d)) is not None
            ]
            tags = await client.list_tags(ref.repository)
            bundled = referrers_fallback_subjects(tags)  # digests with Sigstore bundles (or other referrers)
            bundled |= await _api_bundled(client, ref.repository, [fetched.digest, *children.values()])
    except Exception as exc:  # a ShipyardError (the registry refused), possibly in an exception group
        error = shipyard_error_in(exc)
        if error is None:
            raise
        return VerifyReport(str(ref), None, trusted, error=str(error))
    subjects = {"index": fetched.digest, **{str(p): d for p, d in children.items()}}
    checks: dict[tuple[str, str], Check] = {}
    statements: dict[tuple[str, str], tuple[dict[str, Any], ...]] = {}

    async def one(name: str, subject: str) -> None:
        reference = f"{ref.name}@{subjects[subject]}"
        cosign = state.tools.cosign
        if name == "signature":
            outcome = await verify_signature(
                cosign, state.access, state.policy, state.public_key, reference, state.sigstore, bundles=subjects[subject] in bundled
            )
        else:
            kind = name.split(" ", 1)[1]
            outcome = await verify_attestation(
                cosign, state.access, state.policy, state.public_key, reference, kind, state.sigstore, bundles=subjects[subject] in bundled
            )
            statements[(name, subject)] = outcome.statements
        checks[(name, subject)] = Check(name, subject, subjects[subject], outcome.ok, outcome.detail)

    order = expected_checks([str(p) for p in children], state.attestations)
    async with anyio.create_task_group() as group:
        for name, subject in order:
            group.start_soon(one, name, subject)
    sboms = _write_verified_sboms(statements, state.out)
    scan = None
    if state.scan is not None:
        manifests = {p: Descriptor(media_type="", digest=d, size=0) for p, d in children.items()}
        try:
            reports = await scan_release(state.tools.trivy, state.tools.trivy_db, state.tools.golang, state.access, ref.name, manifests)
            scan = evaluate_gate(reports, state.scan).to_dict()
        except Exception as exc:
            error = shipyard_error_in(exc)
            if error is None:
                raise
            scan = {"gate": "failed", "failing": [str(error)]}
    report_checks = tuple(checks[key] for key in order)
    return VerifyReport(
        str(ref),
        fetched.digest,
        trusted,
        checks=report_checks,
        images=tuple(images),
        sboms=tuple(sboms),
        scan=scan,
        hints=tuple(_verify_hints(ref, fetched.digest, tags, report_checks, trusted)),
    )


async def _api_bundled(client: OciRegistry, repository: str, digests: Sequence[str]) -> set[str]:
    """The digests the OCI 1.1 referrers API lists Sigstore bundles for (none where the registry
    has no such API: the fallback tags say it there)."""
    found: set[str] = set()
    for digest in digests:
        listed = await client.referrers(repository, digest, BUNDLE_ARTIFACT_TYPE)
        if listed is None:
            return found
        if listed:
            found.add(digest)
    return found


def _platform_manifests(fetched: FetchedManifest) -> dict[Platform, str]:
    """Platform -> manifest digest of an index (attestation manifests of other tools skipped)."""
    if not fetched.is_index:
        return {}
    out: dict[Platform, str] = {}
    for entry in fetched.body.get("manifests", []):
        platform = _platform_of(entry.get("platform", {}))
        if platform.os and platform.os != "unknown":
            out[platform] = entry["digest"]
    return dict(sorted(out.items(), key=lambda item: platform_key(item[0])))


def _write_verified_sboms(statements: Mapping[tuple[str, str], Sequence[dict[str, Any]]], out: Path | None) -> list[str]:
    """Each platform's SBOM, taken from its verified attestation, as a file in ``out/sbom``."""
    if out is None:
        return []
    written = []
    for (name, subject), found in sorted(statements.items()):
        kind = name.split(" ", 1)[1]
        if subject == "index" or kind not in PER_PLATFORM or not found:
            continue
        folder = out / "sbom"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{subject.replace('/', '-')}.{kind}.json"
        path.write_text(json.dumps(found[0]["predicate"], indent=2) + "\n")
        written.append(str(path))
    return written


def _verify_hints(ref: ImageRef, digest: str, tags: Sequence[str], checks: Sequence[Check], trusted: str) -> list[str]:
    """What the failures suggest, from what the repository holds."""
    hints = []
    signed = signed_digests(tags)
    index_signature = next((c for c in checks if c.name == "signature" and c.subject == "index"), None)
    if index_signature is not None and not index_signature.ok:
        if not signed:
            hints.append(f"{ref.name} holds no cosign signatures at all (no sha256-….sig tags): the release was never signed")
        elif digest not in signed:
            where = f"{ref.name}:{ref.tag}" if ref.tag else str(ref)
            hints.append(
                f"{where} points to {digest}, which has no signature, while {ref.name} holds signatures for "
                f"{', '.join(signed)}: the tag was moved after the release was signed"
            )
        else:
            hints.append(f"{digest} is signed, but not by {trusted}: check the key or identity you verify with")
    attested = {t[len("sha256-") : -len(".att")] for t in tags if t.endswith(".att")}
    for check in checks:
        if check.name.startswith("attestation") and not check.ok and check.digest.split(":", 1)[1] not in attested:
            hints.append(f"{check.subject} ({check.digest}) has no attestations stored at all: they were removed or never made")
    return list(dict.fromkeys(hints))
