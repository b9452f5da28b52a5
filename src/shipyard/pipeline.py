"""Run a release plan's steps in order over one state, and turn the outcome into the report.

build (the tool images pulled meanwhile) -> assemble -> at once: push by digest, SBOMs and the
scan gate (both from the assembled layout), smoke test; once pushed and described: signatures,
SBOM and provenance attestations (one cosign container) -> promote tags (written, read back,
all or nothing: steps/promote.py). A step never re-decides what the plan decided; a failure
before promotion leaves every tag on every registry where it was.

The build may be split across engines (``--builder``): each builder engine builds its platforms
and exports them, like the default engine does its own; everything after the export (assembly,
push, signing, tags) runs in the default session only, so the release is the same. Or it ran
before, elsewhere (``build`` on each runner of a CI matrix, then ``publish --from``): the
release is then assembled from those layouts, and everything after is the same again.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import dagger
from dagger import dag

from shipyard.engines import engine_session
from shipyard.errors import GateFailed, InvalidInput, ShipyardError, shipyard_error_in
from shipyard.gates.scan import GateResult, evaluate_gate
from shipyard.gates.smoke import SmokeReport
from shipyard.registries.http import DEFAULT_TIMEOUT
from shipyard.registries.oci import FetchedManifest, OciRegistry
from shipyard.release.builders import Builder, default_platforms
from shipyard.release.config import SbomFormat, ScanPolicy, SigningMode, ToolImages
from shipyard.release.image import AssembledRelease, Descriptor, platform_key
from shipyard.release.layouts import RECORD_FILE, BuildRecord, BuildReport, layout_builders, layout_dependencies
from shipyard.release.plan import ReleasePlan
from shipyard.release.promote import check_release_tags, tag_rules
from shipyard.reports.events import SILENT, Progress
from shipyard.reports.github import without_trace_ids
from shipyard.reports.report import PublishReport, RebuildReport, TargetReport
from shipyard.reports.sarif import merge_trivy_sarif
from shipyard.reports.verification import PER_PLATFORM, Check, VerifyReport, expected_checks, inspect_image, signed_digests
from shipyard.steps.assemble import assemble_from_layouts, assemble_release, export_platform_images, write_platform_layout
from shipyard.steps.base import base_layers
from shipyard.steps.build import BuildFailed, BuildSpec, build_platforms
from shipyard.steps.explain import explain_platform
from shipyard.steps.layouts import LoadedLayout, platform_layouts, platform_tarball
from shipyard.steps.promote import PromotionInterrupted, ReleaseManifest, TargetTags, promote, read_tags, targets_for
from shipyard.steps.push import PushResult, push_release
from shipyard.steps.sbom import generate_sboms
from shipyard.steps.scan import scan_layouts, scan_release
from shipyard.steps.sign import Attestation, sign_and_attest
from shipyard.steps.smoke import SmokeFailed, smoke_test
from shipyard.steps.tools import RegistryAccess, Signer, Sigstore, pull_ahead
from shipyard.steps.verify import verify_attestation, verify_signature
from shipyard.supply_chain.cosign import (
    BUNDLE_ARTIFACT_TYPE,
    CERTIFICATE_ANNOTATION,
    TrustPolicy,
    certificate_identity,
    referrers_fallback_subjects,
)
from shipyard.supply_chain.provenance import provenance_predicate
from shipyard.tagging.labels import oci_annotations
from shipyard.values.platforms import Platform, parse_platforms
from shipyard.values.refs import ImageRef, parse_repository

# A release's registry requests are retried harder than cleanup's: a push is idempotent, and a
# registry that fails half its requests (an overloaded mirror, a flaky proxy) must still converge.
RELEASE_RETRIES = 8


class BuilderFailed(ShipyardError):
    """A builder engine failed (unreachable, or gone mid-build); nothing was pushed."""

    exit_code = 3

    def __init__(self, builder: Builder, detail: str) -> None:
        self.builder = builder
        super().__init__(f"builder {builder.address} ({', '.join(map(str, builder.platforms))}) failed: {detail}")


@dataclass(frozen=True)
class SplitBuild:
    """The builder engines of a release (``--builder``) and how each gets its inputs: ``inputs``
    gives the source and the build spec as objects of that engine's session (the build secrets
    set there; no registry credential or signing key ever goes to a builder)."""

    builders: tuple[Builder, ...]
    inputs: Callable[[dagger.Client], tuple[dagger.Directory, BuildSpec]]
    log_dir: Path  # each builder session's progress: builder-<platforms>.log
    environment: Callable[[Builder], Mapping[str, str]] = lambda builder: {}  # its session's cache (build_cache.py)


@dataclass
class ReleaseState:
    """Everything the steps share: the plan, where things are, and what each step produced."""

    plan: ReleasePlan
    source: dagger.Directory
    build: BuildSpec
    access: RegistryAccess
    workdir: Path  # local scratch space (the host in client mode, the module's container in module mode)
    allow_backwards: bool = False
    allow_overwrite: bool = False  # move a version tag that names other content
    registry_timeout: float = DEFAULT_TIMEOUT
    out: Path | None = None
    progress_log: Path | None = None  # the engine session's progress (failed build steps' output)
    signer: Signer | None = None  # cosign: sign and attest in every target before tags move
    signatures: dict[str, str] = field(default_factory=dict)  # repository -> signed reference
    signed_by: tuple[str, str] | None = None  # keyless: the certificate's identity and issuer
    sbom_files: list[str] = field(default_factory=list)
    scan: GateResult | None = None
    sarif: str = ""  # the merged SARIF log (code scanning), when written
    smoke: SmokeReport | None = None
    containers: dict[Platform, dagger.Container] = field(default_factory=dict)  # as built, per platform
    source_url: str = ""
    secret_ids: tuple[str, ...] = ()
    started: str = ""
    attestations: list[dict[str, str]] = field(default_factory=list)
    release: AssembledRelease | None = None
    clients: dict[str, OciRegistry] = field(default_factory=dict)
    pushes: list[PushResult] = field(default_factory=list)
    tags: list[TargetTags] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    split: SplitBuild | None = None  # --builder: platforms built on other engines
    builder_versions: dict[str, str] = field(default_factory=dict)  # builder address -> its engine version
    layouts: tuple[LoadedLayout, ...] = ()  # publish --from: the platform images, built and checked already
    local_file: Callable[[Path], dagger.File] | None = None  # a file of the workdir as the engine takes it
    local_directory: Callable[[Path], dagger.Directory] | None = None  # a directory of the workdir, likewise
    sboms: dict[tuple[Platform, SbomFormat], str] = field(default_factory=dict)  # the documents, for the attestations
    provenance: dict[str, Any] | None = None  # the SLSA predicate, for its attestation
    notices: list[str] = field(default_factory=list)  # what the promotion overwrote (foreign tags, --allow-overwrite)
    interrupted: int | None = None  # the exit code of a signal during the promotion (130, 143)
    progress: Progress = SILENT  # live events: steps started/finished, push progress, tags moved


async def run_publish(state: ReleaseState) -> PublishReport:
    """Run the release; a failure is reported (``report.ok`` false), never half-applied."""
    state.started = _now()
    async with contextlib.AsyncExitStack() as stack:
        for registry in sorted({t.registry for t in state.plan.active_targets}):
            state.clients[registry] = await stack.enter_async_context(registry_client(state.access, registry, state.registry_timeout))
        try:
            async with anyio.create_task_group() as ahead:
                ahead.start_soon(_pull_tools, state)  # while the build runs; cancelled once the release is done
                try:
                    await _release(state)
                finally:
                    ahead.cancel_scope.cancel()
        except Exception as exc:  # a ShipyardError, possibly inside a task group's exception group
            error = shipyard_error_in(exc)
            if error is None or isinstance(error, InvalidInput):
                raise error or exc from None
            if isinstance(error, PromotionInterrupted):
                state.interrupted = error.exit_code
            return _report(state, error=without_trace_ids(str(error)))
    return _report(state)


async def _release(state: ReleaseState) -> None:
    """Everything after the build works on the assembled layout or on digests, so it runs at
    once: the push, the SBOMs and the scan (from the layout), the provenance, the smoke test;
    the signatures right after the push, the attestations once the push, the SBOMs and the
    provenance are done. The first failure cancels the rest, and no tag moves."""
    await state.access.authenticate_engine()  # the engine's own pulls (FROM a registry that wants credentials)
    await _timed(state, "build+assemble", _build_and_assemble)
    await _check_release_tags(state)
    pushed, signed = anyio.Event(), anyio.Event()

    async def push_then_sign() -> None:
        await _timed(state, "push", _push)
        pushed.set()
        if state.signer is not None:
            await _timed(state, "sign", _sign)
        signed.set()

    async with anyio.create_task_group() as group:
        if state.plan.scan is not None:
            group.start_soon(_timed, state, "scan", _scan)
        if state.plan.smoke is not None:
            group.start_soon(_timed, state, "smoke", _smoke)
        group.start_soon(push_then_sign)
        async with anyio.create_task_group() as predicates:
            if state.plan.sbom_formats:
                predicates.start_soon(_timed, state, "sbom", _sbom)
            if state.plan.provenance:
                predicates.start_soon(_timed, state, "provenance", _provenance)
        if state.signer is not None and (state.sboms or state.provenance is not None):
            # Sigstore bundles rewrite one referrers tag per subject: attest after signing.
            await (signed if state.signer.identity.bundles else pushed).wait()
            await _timed(state, "attest", _attest)
    await _timed(state, "promote", _promote)


async def _pull_tools(state: ReleaseState) -> None:
    """The tool images this release runs, pulled (and toolrun built) while it builds."""
    tools = state.plan.tools
    images = [tools.cosign if state.signer is not None else ""]
    images += [tools.syft if state.plan.sbom_formats else ""]
    images += [tools.trivy, tools.trivy_db] if state.plan.scan is not None else []
    if any(images):
        await pull_ahead(images, tools.golang)


def _layouts(state: ReleaseState) -> dict[Platform, dagger.Directory]:
    """Each platform of the assembled release as a one-image OCI layout in the engine."""
    assert state.release is not None
    path = Path(state.release.layout)
    root = state.local_directory(path) if state.local_directory is not None else dag.host().directory(str(path))
    return platform_layouts(root, state.release.manifests)


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


async def _timed(state: ReleaseState, name: str, step: Callable[[ReleaseState], object]) -> None:
    started = time.monotonic()
    state.progress.step_started(name)
    error: str | None = "cancelled"
    try:
        await step(state)  # type: ignore[misc]
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
        state.timings[name] = time.monotonic() - started
        state.progress.step_finished(name, state.timings[name], error)


async def _build_and_assemble(state: ReleaseState) -> None:
    if state.layouts:
        await _assemble_from_layouts(state)
        return
    platforms = parse_platforms(state.plan.platforms)
    builders = state.split.builders if state.split is not None else ()
    here = default_platforms(platforms, builders)
    exports: dict[Platform, Path] = {}

    async def build_here() -> None:
        containers = await build_platforms(state.source, state.build, here, state.progress_log)
        state.containers.update(containers)
        exports.update(await export_platform_images(containers, state.workdir))

    base: dict[Platform, tuple[str, ...]] = {}

    async def read_base_layers() -> None:
        spec = state.build
        base.update(await base_layers(state.source, spec.dockerfile_text, spec.target, spec.build_args, platforms, state.workdir))

    async with anyio.create_task_group() as group:
        if here:
            group.start_soon(build_here)
        for builder in builders:
            group.start_soon(_build_on, state, builder, exports)
        group.start_soon(read_base_layers)
    for platform in platforms:  # built elsewhere: loaded into the default engine too (the smoke test runs one)
        if platform not in state.containers:
            tarball = dag.host().file(str(exports[platform]))
            state.containers[platform] = dag.container(platform=dagger.Platform(str(platform))).import_(tarball)
    ordered = {p: exports[p] for p in platforms}  # the index lists platforms in the release's order
    layout = state.workdir / "layout"
    state.release = await anyio.to_thread.run_sync(
        lambda: assemble_release(
            ordered, epoch=state.plan.source_date_epoch, annotations=state.plan.annotations, layout=layout, base_layers=base
        )
    )
    if state.out is not None:
        await anyio.to_thread.run_sync(lambda: _copy_layout(layout, state.out / "oci"))  # type: ignore[operator]


async def _assemble_from_layouts(state: ReleaseState) -> None:
    """``publish --from``: the release from the layouts' platform images (checked before the
    release started), each platform manifest stamped with the release's annotations."""
    platforms = parse_platforms(state.plan.platforms)
    where = {p: (layout.root, digest) for layout in state.layouts for p, digest in layout.images().items()}
    layout = state.workdir / "layout"
    state.release = await anyio.to_thread.run_sync(
        lambda: assemble_from_layouts({p: where[p] for p in platforms}, annotations=state.plan.annotations, layout=layout)
    )
    if state.plan.smoke is not None:  # the smoke test runs each platform's image in this engine
        for platform, manifest in state.release.manifests.items():
            tarball = state.workdir / f"from-{str(platform).replace('/', '-')}.tar"
            await anyio.to_thread.run_sync(platform_tarball, layout, manifest, tarball)
            file = state.local_file(tarball) if state.local_file is not None else dag.host().file(str(tarball))
            state.containers[platform] = dag.container(platform=dagger.Platform(str(platform))).import_(file)
    if state.out is not None:
        await anyio.to_thread.run_sync(lambda: _copy_layout(layout, state.out / "oci"))  # type: ignore[operator]


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
        stale = state.out / RECORD_FILE
        if stale.exists():
            stale.unlink()  # an earlier build's record would pass its layout off as this one's
        return BuildReport(out=str(state.out), record=None, error=str(error))
    await anyio.to_thread.run_sync(lambda: _copy_layout_into(layout, state.out))
    (state.out / RECORD_FILE).write_text(record.dumps())
    return BuildReport(out=str(state.out), record=record)


def _copy_layout_into(layout: Path, dest: Path) -> None:
    """The layout's files into ``dest`` (which may hold other files: the engine log)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("blobs", "index.json", "oci-layout"):
        target = dest / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    shutil.copytree(layout, dest, dirs_exist_ok=True)


async def _build_on(state: ReleaseState, builder: Builder, exports: dict[Platform, Path]) -> None:
    """Build ``builder``'s platforms in a session of its own and export them to the workdir."""
    assert state.split is not None
    log_path = state.split.log_dir / f"builder-{'+'.join(str(p).replace('/', '-') for p in builder.platforms)}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with log_path.open("w") as log:
            environment = state.split.environment(builder)
            async with engine_session(builder.address, log, log_path=log_path, environment=environment) as client:
                state.builder_versions[builder.address] = await client.version()
                source, spec = state.split.inputs(client)
                containers = await build_platforms(source, spec, builder.platforms, log_path, where=f"builder {builder.address}")
                exports.update(await export_platform_images(containers, state.workdir))
    except Exception as exc:  # the build's own failure, or the engine's (possibly in an exception group)
        error = shipyard_error_in(exc)
        if isinstance(error, BuildFailed):
            raise error from None
        detail = str(error) if error is not None else f"the session with its engine broke ({_innermost(exc)})"
        where = f" (its log: {log_path})" if log_path.exists() and log_path.stat().st_size else ""
        raise BuilderFailed(builder, f"{detail}; nothing was pushed and no tag was moved on any registry{where}") from None


def _innermost(exc: BaseException) -> str:
    """The root error of a failed engine call, short: through exception groups, retries and causes."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
        elif hasattr(exc, "last_attempt") and exc.last_attempt.exception() is not None:  # tenacity's RetryError
            exc = exc.last_attempt.exception()
        elif exc.__cause__ is not None:
            exc = exc.__cause__
        else:
            break
    text = " ".join(str(exc).split()).split(" For more information check:", 1)[0]  # httpx's link to MDN
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def _copy_layout(layout: Path, dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(layout, dest)


async def _push(state: ReleaseState) -> None:
    assert state.release is not None
    state.pushes = await push_release(state.clients, state.release, state.plan.active_targets, state.progress)
    failed = [p for p in state.pushes if not p.ok and not p.optional]
    if failed:
        raise GateFailed(f"push to {failed[0].repository} failed: {failed[0].error}; no tag was moved on any registry")


async def _sbom(state: ReleaseState) -> None:
    """An SBOM per platform (from the assembled layout), written to the output directory; they
    are attested in every target with the signatures (``_sign``)."""
    assert state.release is not None
    tools = state.plan.tools
    documents = await generate_sboms(tools.syft, tools.golang, _layouts(state), state.plan.sbom_formats)
    state.sboms = documents
    if state.out is not None:
        folder = state.out / "sbom"
        folder.mkdir(parents=True, exist_ok=True)
        for (platform, fmt), document in sorted(documents.items(), key=lambda item: (str(item[0][0]), item[0][1].value)):
            path = folder / f"{str(platform).replace('/', '-')}.{fmt.value}.json"
            path.write_text(document)
            state.sbom_files.append(str(path))


async def _provenance(state: ReleaseState) -> None:
    """The SLSA v1 provenance, written to the output directory; it is attested to the index in
    every target with the signatures (``_sign``)."""
    assert state.release is not None
    predicate = provenance_predicate(
        version=state.plan.version,
        source_url=state.source_url,
        sha=state.plan.annotations.get("org.opencontainers.image.revision", ""),
        dockerfile=state.build.dockerfile,
        target=state.build.target,
        build_args=state.build.build_args,
        secret_ids=state.secret_ids,
        platforms={str(p): d.digest for p, d in state.release.manifests.items()},
        index=state.release.index.digest,
        source_date_epoch=state.plan.source_date_epoch,
        tool_images=state.plan.tools.model_dump(),
        shipyard_version=shipyard_version(),
        engine_version=await dag.version(),
        started=state.started,
        finished=_now(),
        builders=layout_builders([(layout.name, layout.record) for layout in state.layouts])
        if state.layouts
        else [
            {"address": b.address, "platforms": [str(p) for p in b.platforms], "dagger": state.builder_versions.get(b.address, "")}
            for b in (state.split.builders if state.split is not None else ())
        ],
        inputs=layout_dependencies([(layout.name, layout.record) for layout in state.layouts]),
    )
    state.provenance = predicate
    document = json.dumps(predicate, indent=2, sort_keys=True)
    if state.out is not None:
        state.out.mkdir(parents=True, exist_ok=True)
        (state.out / "provenance.json").write_text(document + "\n")


def shipyard_version() -> str:
    try:
        return importlib.metadata.version("shipyard")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _trivy_version(reports: Mapping[str, Mapping[str, Any]]) -> str:
    for report in reports.values():
        version = (report.get("Trivy") or {}).get("Version")
        if version:
            return str(version)
    return ""


def _now() -> str:
    return datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _scan(state: ReleaseState) -> None:
    """Trivy on every platform (from the assembled layout); the gate fails the release (no tag
    moves) naming what failed it."""
    assert state.release is not None and state.plan.scan is not None
    repositories = [t.repository for t in state.plan.active_targets]
    tools = state.plan.tools
    reports = await scan_layouts(tools.trivy, tools.trivy_db, tools.golang, _layouts(state))
    if state.out is not None:
        folder = state.out / "scan"
        folder.mkdir(parents=True, exist_ok=True)
        for platform, report in reports.items():
            (folder / f"{platform.replace('/', '-')}.trivy.json").write_text(json.dumps(report, indent=2))
    state.scan = evaluate_gate(reports, state.plan.scan)
    if state.out is not None:
        references = {str(p): f"{repositories[0]}@{d.digest}" for p, d in state.release.manifests.items()}
        log = merge_trivy_sarif(reports, references, ignored=state.plan.scan.ignore, trivy_version=_trivy_version(reports))
        state.sarif = str(state.out / "scan" / "trivy.sarif")
        Path(state.sarif).write_text(json.dumps(log, indent=2) + "\n")
    if not state.scan.passed:
        raise GateFailed("scan gate failed: " + "; ".join(f.describe() for f in state.scan.failing) + "; no tag was moved on any registry")


async def _smoke(state: ReleaseState) -> None:
    """Every smoke-tested platform's image must pass its health check before any tag moves."""
    assert state.plan.smoke is not None
    state.smoke = await smoke_test(state.plan.smoke, state.containers, state.plan.tools.golang)
    if not state.smoke.passed:
        raise SmokeFailed(f"{state.smoke.describe_failure()}; no tag was moved on any registry")


async def _sign(state: ReleaseState) -> None:
    """Recursive signatures in every target that holds the release (one cosign container): they
    need only the pushed digests, so they are written while syft still works."""
    assert state.release is not None and state.signer is not None
    repositories = [p.repository for p in state.pushes if p.ok]
    tools = state.plan.tools
    digest = state.release.index.digest
    signed = await sign_and_attest(tools.cosign, tools.golang, state.access, repositories, digest, state.signer, [])
    state.signatures = signed.signatures
    if state.signer.identity.mode is SigningMode.KEYLESS and repositories:
        state.signed_by = await _keyless_signer(state, repositories[0], digest)


async def _attest(state: ReleaseState) -> None:
    """Each platform's SBOMs (to its manifest and the index) and the provenance (to the index),
    in every target that holds the release: a second cosign container."""
    assert state.release is not None and state.signer is not None
    release = state.release
    repositories = [p.repository for p in state.pushes if p.ok]
    attestations = [
        Attestation(
            fmt.attestation_type, json.loads(document), (release.manifests[platform].digest, release.index.digest), str(platform), "SBOMs"
        )
        for (platform, fmt), document in sorted(state.sboms.items(), key=lambda item: (str(item[0][0]), item[0][1].value))
    ]
    if state.provenance is not None:
        attestations.append(Attestation("slsaprovenance1", state.provenance, (release.index.digest,), "all", "provenance"))
    tools = state.plan.tools
    signed = await sign_and_attest(
        tools.cosign, tools.golang, state.access, repositories, release.index.digest, state.signer, attestations, sign=False
    )
    state.attestations = signed.attestations


async def _keyless_signer(state: ReleaseState, repository: str, digest: str) -> tuple[str, str] | None:
    """Who signed keyless, as Fulcio's certificate on the index's signature says (identity, issuer)."""
    ref = parse_repository(repository, what="target")
    fetched = await state.clients[ref.registry].manifest(ref.repository, f"{digest.replace(':', '-')}.sig")
    for layer in reversed(fetched.body.get("layers", []) if fetched else []):
        pem = layer.get("annotations", {}).get(CERTIFICATE_ANNOTATION)
        if pem:
            return certificate_identity(pem)
    return None


def _tag_rules(state: ReleaseState) -> Any:
    plan = state.plan
    return tag_rules(plan.version, plan.tags, latest=plan.latest, allow_backwards=state.allow_backwards)


async def _check_release_tags(state: ReleaseState) -> None:
    """Release tags are immutable: one that names other content stops the release before any
    push (exit 2), unless ``--allow-overwrite``. An unreachable optional target is left to the push."""
    assert state.release is not None
    rules = _tag_rules(state)
    if not rules.immutable:
        return
    current: dict[str, dict[str, str | None]] = {}

    async def one(repository: str, optional: bool) -> None:
        ref = parse_repository(repository)
        try:
            current[repository] = await read_tags(state.clients[ref.registry], ref.repository, rules.immutable)
        except ShipyardError:
            if not optional:
                raise

    async with anyio.create_task_group() as group:
        for target in state.plan.active_targets:
            group.start_soon(one, target.repository, target.optional)
    ordered = {t.repository: current[t.repository] for t in state.plan.active_targets if t.repository in current}
    state.notices += check_release_tags(rules, ordered, state.release.index.digest, allow_overwrite=state.allow_overwrite)


async def _promote(state: ReleaseState) -> None:
    assert state.release is not None
    pushed = [(p.repository, p.optional) for p in state.pushes if p.ok]
    state.tags = targets_for(state.clients, pushed, _tag_rules(state))
    index = state.release.index
    data = (Path(state.release.layout) / "blobs" / "sha256" / index.digest.split(":", 1)[1]).read_bytes()
    try:
        await promote(state.tags, ReleaseManifest(data, index.media_type, index.digest))
    finally:
        state.notices += [notice for target in state.tags for notice in target.notices]
    for target in state.tags:
        state.progress.tags_moved(target.repository, tuple(target.at(index.digest)))


def _report(state: ReleaseState, error: str | None = None) -> PublishReport:
    release = state.release
    pushes = {p.repository: p for p in state.pushes}
    tags = {t.repository: t for t in state.tags}
    targets: list[TargetReport] = []
    for target in state.plan.targets:
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
        version=state.plan.version,
        digest=release.index.digest if release else None,
        platforms=tuple(
            {"platform": str(p), "digest": d.digest, "engine": _engine_of(state, p)}
            for p, d in (release.manifests.items() if release else [])
        ),
        targets=tuple(targets),
        tags=state.plan.tags,
        size=release.size if release else 0,
        timings=state.timings,
        notices=(*state.plan.notices, *state.notices),
        error=error,
        exit_code=state.interrupted,
        stages=tuple(stage.describe() for stage in state.plan.stages),
        signatures=tuple(
            {"repository": r, "reference": ref, "recursive": "true"}
            | ({"identity": state.signed_by[0], "issuer": state.signed_by[1]} if state.signed_by else {})
            for r, ref in state.signatures.items()
        ),
        attestations=tuple(state.attestations),
        scan={**state.scan.to_dict(), "sarif": state.sarif or None} if state.scan else None,
        smoke=state.smoke.to_dict() if state.smoke else None,
        sboms=tuple(state.sbom_files),
    )


def _engine_of(state: ReleaseState, platform: Platform) -> str:
    """Where a platform was built: the default engine, a --builder's address, or a layout's runner."""
    for layout in state.layouts:
        if platform in layout.images():
            return f"{layout.record.runner or layout.record.engine} (--from {layout.name})"
    return state.plan.builders.get(str(platform), "default")


def _tags_left(target: TargetTags | None, digest: str) -> str:
    """What the failed release left on one target, from the tags read back."""
    if target is None or not target.tags:
        return "no tag was moved"
    named = target.at(digest)
    return f"tags still naming the release: {', '.join(named)}" if named else "no tag names the release"


async def run_rebuild_check(state: ReleaseState, published: ImageRef) -> RebuildReport:
    """Build and assemble exactly as a release would, then compare with the published index."""
    reference = str(published)
    try:
        async with registry_client(state.access, published.registry) as client:
            fetched = await client.manifest(published.repository, published.digest or published.tag or "latest")
        if fetched is None or not fetched.is_index:
            return RebuildReport(reference, None, None, (), error=f"{reference} is not a published multi-platform index")
        await state.access.authenticate_engine()
        await _build_and_assemble(state)
    except Exception as exc:  # a ShipyardError, possibly inside a task group's exception group
        error = shipyard_error_in(exc)
        if error is None:
            raise
        return RebuildReport(reference, None, None, (), error=str(error))
    assert state.release is not None
    was = {_platform_of(m.get("platform", {})): m["digest"] for m in fetched.body.get("manifests", [])}
    now = {p: d.digest for p, d in state.release.manifests.items()}
    rows = tuple(
        {"platform": str(p), "published": was.get(p), "rebuilt": now.get(p)} for p in sorted(set(was) | set(now), key=platform_key)
    )
    differences = []
    async with registry_client(state.access, published.registry) as client:
        for p in sorted(set(was) & set(now), key=platform_key):
            if was[p] != now[p]:
                try:
                    differences.append(await explain_platform(client, published.repository, was[p], state.release, p))
                except ShipyardError as exc:  # the verdict stands without the explanation
                    differences.append({"platform": str(p), "error": str(exc), "config": [], "layers": []})
    return RebuildReport(reference, fetched.digest, state.release.index.digest, rows, differences=tuple(differences))


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
