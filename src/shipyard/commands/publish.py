"""``publish``: plan, then build, assemble, push by digest, promote tags and verify."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import dagger
from dagger import dag

from shipyard.commands.door import (
    TRIVYIGNORE,
    Door,
    SecretInput,
    _block,
    engine_secret,
    tool_images_from_text,
)
from shipyard.commands.plan import announce
from shipyard.commands.settings import with_settings
from shipyard.commands.source_build import SourceBuild, _source_build
from shipyard.errors import InvalidInput
from shipyard.pipeline import (
    ReleaseState,
    SplitBuild,
    run_publish,
)
from shipyard.release.builders import Builder, grouped, parse_builders
from shipyard.release.cache import ExportOutcome, cache_summary, group_suffix
from shipyard.release.config import (
    SbomFormat,
    ScanPolicy,
    SigningMode,
    SmokeTest,
    Target,
    provenance_from_args,
    sbom_formats_from_args,
    scan_policy_from_args,
)
from shipyard.release.image import sha256_digest
from shipyard.release.layouts import ReleaseInputs, check_layouts, resolve_epoch
from shipyard.release.plan import EPHEMERAL_REGISTRY, build_release_plan, check_custom_tag, check_release_tag
from shipyard.reports.github import OUTPUTS_FILE, SUMMARY_FILE, job_summary, outputs_file, step_outputs
from shipyard.reports.notes import Verification, render_release_notes
from shipyard.reports.report import PublishReport, RebuildReport, Report
from shipyard.secrets import SecretValue
from shipyard.smoke_inputs import read_smoke_plan
from shipyard.source import HostSource, SourceTree
from shipyard.steps.build import BuildSpec
from shipyard.steps.layouts import LoadedLayout, read_layout, verify_layout
from shipyard.steps.sign import SigningFailed
from shipyard.steps.tools import (
    RegistryAccess,
    RegistryEndpoint,
    Signer,
    Sigstore,
    ephemeral_registry_service,
    host_tunnel,
    keep_running,
    sigstore_hosts,
)
from shipyard.supply_chain.cosign import rewrite_loopback_url, signing_identity, token_expiry, trust_files
from shipyard.tagging.tags import parse_flavor, parse_tag_specs
from shipyard.values.platforms import DEFAULT_PLATFORMS, parse_platforms
from shipyard.values.refs import ImageRef


def signer_for(
    sign: SigningMode,
    *,
    cosign_key: SecretInput | None,
    cosign_password: SecretInput | None,
    oidc_token: SecretInput | None,
    oidc_request_url: SecretInput | None,
    oidc_request_token: SecretInput | None,
    fulcio_url: str,
    rekor_url: str,
    timestamp_url: str = "",
    sigstore_trusted_root: str | None = None,
    sigstore_bundle: bool = False,
) -> Callable[[Callable[[str], RegistryEndpoint]], Awaitable[Signer | None]]:
    """Check the signing options (before anything runs); returns how to make the signer inside
    the engine session, where the secrets become ``dagger.Secret``s and a private Sigstore on
    the loopback is bound as services (``endpoint``: how the door reaches ``127.0.0.1:P``)."""
    identity = signing_identity(
        sign,
        has_key=cosign_key is not None,
        has_token=oidc_token is not None,
        has_runner_request=(oidc_request_url is not None, oidc_request_token is not None),
        fulcio_url=fulcio_url,
        rekor_url=rekor_url,
        timestamp_url=timestamp_url,
        has_trusted_root=sigstore_trusted_root is not None,
        bundles=sigstore_bundle,
    )
    if sigstore_trusted_root is not None:
        trust_files(sigstore_trusted_root)  # bad JSON is bad input, before anything runs

    async def make(endpoint: Callable[[str], RegistryEndpoint]) -> Signer | None:
        def secret(name: str, value: SecretInput | None) -> dagger.Secret | None:
            return engine_secret(name, value) if value is not None else None

        if identity is None:
            return None
        if identity.mode is SigningMode.KEY:
            return Signer(identity, key=secret("cosign-key", cosign_key), password=secret("cosign-password", cosign_password))
        urls = dict(identity.services())
        request_url = None
        if oidc_request_url is not None:  # the runner's URL is a secret: read here, rewritten, set again
            plain = oidc_request_url.reveal() if isinstance(oidc_request_url, SecretValue) else await oidc_request_url.plaintext()
            urls["oidc-request-url"] = plain
        if oidc_token is not None:  # an expired token fails at Fulcio with no word of why: say it first
            _check_token_expiry(oidc_token.reveal() if isinstance(oidc_token, SecretValue) else await oidc_token.plaintext())
        hosts, services = sigstore_hosts(urls, endpoint)
        if oidc_request_url is not None:
            inside = rewrite_loopback_url(urls["oidc-request-url"], hosts)
            request_url = dag.set_secret(f"shipyard-oidc-request-url-{uuid.uuid4().hex}", inside)
        return Signer(
            identity.reached_through(hosts),
            token=secret("oidc-token", oidc_token),
            request_url=request_url,
            request_token=secret("oidc-request-token", oidc_request_token),
            sigstore=Sigstore(services=services, trusted_root=sigstore_trusted_root),
            shown=identity,
            hosts=tuple(sorted(hosts.items())),
        )

    return make


def _check_token_expiry(token: str) -> None:
    expiry = token_expiry(token)
    now = int(datetime.now(UTC).timestamp())
    if expiry is not None and expiry <= now:
        when = datetime.fromtimestamp(expiry, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        raise SigningFailed(
            f"the OIDC identity token (--oidc-token) expired at {when}, {now - expiry} s ago: pass a fresh one "
            "(identity tokens live minutes); nothing was built or pushed"
        )


@dataclass(frozen=True)
class PublishSteps:
    """Which steps a release runs, from publish's arguments, checked before anything runs."""

    sign: SigningMode  # resolved: never AUTO
    signer: Callable[[Callable[[str], RegistryEndpoint]], Awaitable[Signer | None]]  # made inside the engine session
    sbom: tuple[SbomFormat, ...]
    provenance: bool
    smoke: SmokeTest  # whether it runs is decided with the source (its compose file)
    scan: ScanPolicy | None  # with --trivyignore; the source's .trivyignore is read later


def publish_steps(
    *,
    sign: SigningMode,
    key: SecretInput | None,
    cosign_password: SecretInput | None,
    oidc_token: SecretInput | None,
    oidc_request_url: SecretInput | None,
    oidc_request_token: SecretInput | None,
    fulcio_url: str,
    rekor_url: str,
    timestamp_url: str,
    sigstore_trusted_root: str | None,
    sigstore_bundle: bool,
    sbom: Sequence[SbomFormat],
    no_sbom: bool,
    provenance: bool,
    no_provenance: bool,
    smoke_port: int | None,
    smoke_path: str,
    smoke_cmd: Sequence[str],
    smoke_timeout: int | None,
    smoke_compose: str,
    smoke_service: str,
    smoke_platforms: str,
    scan_fail_on: str,
    trivyignore: str | None,
    no_scan: bool,
) -> PublishSteps:
    """The steps publish's arguments ask for; contradicting or incomplete options raise InvalidInput."""
    resolved = sign.resolve(has_key=key is not None)
    return PublishSteps(
        sign=resolved,
        signer=signer_for(
            resolved,
            cosign_key=key,
            cosign_password=cosign_password,
            oidc_token=oidc_token,
            oidc_request_url=oidc_request_url,
            oidc_request_token=oidc_request_token,
            fulcio_url=fulcio_url,
            rekor_url=rekor_url,
            timestamp_url=timestamp_url,
            sigstore_trusted_root=sigstore_trusted_root,
            sigstore_bundle=sigstore_bundle,
        ),
        sbom=sbom_formats_from_args(list(sbom), off=no_sbom),
        provenance=provenance_from_args(provenance, off=no_provenance),
        smoke=SmokeTest.from_args(smoke_port, smoke_path, list(smoke_cmd), smoke_timeout, smoke_compose, smoke_service, smoke_platforms),
        scan=scan_policy_from_args(scan_fail_on, [trivyignore] if trivyignore else [], off=no_scan),
    )


def check_release_inputs(arguments: Mapping[str, Any]) -> None:
    """A release's inputs that need neither the source nor an engine: the tag, platforms,
    targets and tag/flavor lines, checked as the plan will (bad input exits 2 before anything
    starts or is written)."""
    check_release_tag(arguments["tag"])
    parse_platforms(list(arguments.get("platform") or []) or list(DEFAULT_PLATFORMS))
    targets = Target.parse_all(arguments.get("image") or [])
    if len({t.repository for t in targets}) != len(targets):
        raise InvalidInput("--image", list(arguments["image"]), "names the same repository twice", "List each repository once.")
    specs = parse_tag_specs(_block(arguments.get("spec") or "")) if _block(arguments.get("spec") or "") else None
    check_custom_tag(arguments["tag"], specs, bool(arguments.get("allow_floating_tags")))
    if _block(arguments.get("flavor") or ""):
        parse_flavor(_block(arguments["flavor"]))


def release_builders(platform: Sequence[str], door: Door) -> tuple[Builder, ...]:
    """``--builder`` checked against the release's platforms (``--platform`` or the defaults)."""
    if not door.builders:
        return ()
    return parse_builders(door.builders, parse_platforms(list(platform) or list(DEFAULT_PLATFORMS)))


def _split_build(builders: tuple[Builder, ...], build: SourceBuild, source: SourceTree, door: Door) -> SplitBuild | None:
    """How each builder engine gets the source and the build secrets (and nothing else)."""
    if not builders:
        return None
    if not isinstance(source, HostSource):
        raise InvalidInput("--builder", list(door.builders), "needs the source on this machine", "Run it from the shipyard command.")
    values = [(name, _plaintext(name, value)) for name, value in build.secrets]

    def inputs(client: dagger.Client) -> tuple[dagger.Directory, BuildSpec]:
        secrets = [client.set_secret(name, value.reveal()) for name, value in values]
        spec = BuildSpec(dockerfile=build.dockerfile, target=build.target, build_args=build.build_args, secrets=secrets)
        return client.host().directory(source.path), spec

    def environment(builder: Builder) -> dict[str, str]:
        return {**door.session_environment, **door.cache.for_group(group_suffix(builder.platforms)).environment()}

    return SplitBuild(builders=builders, inputs=inputs, log_dir=door.out or door.scratch(), environment=environment)


def cache_export_refs(door: Door, platform: Sequence[str]) -> tuple[ImageRef, ...]:
    """Every registry reference the door's sessions export a cache to: the default session's and
    each builder's own (``…-linux-arm64``)."""
    refs = list(door.cache.export_refs())
    for builder in release_builders(platform, door):
        refs += door.cache.for_group(group_suffix(builder.platforms)).export_refs()
    return tuple(dict.fromkeys(refs))


def _plaintext(name: str, value: SecretInput) -> SecretValue:
    if isinstance(value, SecretValue):
        return value
    raise InvalidInput("--builder", name, "cannot pass a module's build secret to another engine", "Run it from the shipyard command.")


@with_settings
async def publish(
    *,
    tag: str,
    source: SourceTree,
    from_: Sequence[SourceTree],
    image: Sequence[str],
    platform: Sequence[str],
    dockerfile: str,
    build_target: str,
    build_arg: Sequence[str],
    build_secret: Sequence[tuple[str, SecretInput]],
    sha: str,
    event: str,
    spec: str,
    flavor: str,
    source_date_epoch: int | None,
    allow_backwards: bool,
    allow_overwrite: bool,
    allow_floating_tags: bool,
    registry_timeout: int,
    sign: SigningMode,
    key: SecretInput | None,
    cosign_password: SecretInput | None,
    oidc_token: SecretInput | None,
    oidc_request_url: SecretInput | None,
    oidc_request_token: SecretInput | None,
    fulcio_url: str,
    rekor_url: str,
    timestamp_url: str,
    sigstore_trusted_root: str | None,
    sigstore_bundle: bool,
    scan_fail_on: str,
    trivyignore: str | None,
    sbom: Sequence[SbomFormat],
    provenance: bool,
    tool_images: str | None,
    smoke_port: int | None,
    smoke_path: str,
    smoke_cmd: Sequence[str],
    smoke_timeout: int | None,
    smoke_compose: str,
    smoke_service: str,
    smoke_platforms: str,
    no_sbom: bool,
    no_provenance: bool,
    no_scan: bool,
    door: Door,
) -> PublishReport:
    """Plan, then build, assemble, push by digest, promote tags and verify; ``report.json`` in ``door.out``."""
    if registry_timeout < 1:
        raise InvalidInput("--registry-timeout", registry_timeout, "must be at least 1 second", "Give e.g. --registry-timeout 60.")
    steps = publish_steps(
        sign=sign,
        key=key,
        cosign_password=cosign_password,
        oidc_token=oidc_token,
        oidc_request_url=oidc_request_url,
        oidc_request_token=oidc_request_token,
        fulcio_url=fulcio_url,
        rekor_url=rekor_url,
        timestamp_url=timestamp_url,
        sigstore_trusted_root=sigstore_trusted_root,
        sigstore_bundle=sigstore_bundle,
        sbom=sbom,
        no_sbom=no_sbom,
        provenance=provenance,
        no_provenance=no_provenance,
        smoke_port=smoke_port,
        smoke_path=smoke_path,
        smoke_cmd=smoke_cmd,
        smoke_timeout=smoke_timeout,
        smoke_compose=smoke_compose,
        smoke_service=smoke_service,
        smoke_platforms=smoke_platforms,
        scan_fail_on=scan_fail_on,
        trivyignore=trivyignore,
        no_scan=no_scan,
    )
    sign, sbom_formats, with_provenance, make_signer = steps.sign, steps.sbom, steps.provenance, steps.signer
    tools = tool_images_from_text(tool_images, "--tool-images") if tool_images is not None else door.tools()
    if trivyignore is None and not no_scan and scan_fail_on.strip():
        trivyignore = await source.read_text(TRIVYIGNORE, what="the source's .trivyignore")  # as Trivy reads it from its directory
    scan = scan_policy_from_args(scan_fail_on, [trivyignore] if trivyignore else [], off=no_scan)
    smoke = await read_smoke_plan(source, steps.smoke, dockerfile=dockerfile, platform=platform)
    build = await _source_build(
        source,
        dockerfile=dockerfile,
        build_target=build_target,
        build_arg=build_arg,
        build_secret=build_secret,
        sha=sha,
        source_date_epoch=source_date_epoch,
        door=door,
    )
    layouts: tuple[LoadedLayout, ...] = ()
    if from_:
        if door.builders:
            raise InvalidInput("--builder", list(door.builders), "cannot go with --from: the layouts were built already", "Drop one.")
        layouts = await load_layouts(from_, build, platform, door)
        build = dataclasses.replace(build, sha=build.sha or layouts[0].record.commit)
    release_plan = build_release_plan(
        tag=tag,
        sha=build.sha,
        signing=sign,
        sbom_formats=sbom_formats,
        scan=scan,
        provenance=with_provenance,
        smoke=smoke,
        event=event,
        targets=image,
        credentials=list(door.credentials),
        platforms=platform,
        tag_specs=parse_tag_specs(_block(spec)) if _block(spec) else None,
        flavor=parse_flavor(_block(flavor)) if _block(flavor) else None,
        tools=tools,
        source_date_epoch=build.source_date_epoch,
        commit_epoch=build.commit_epoch,
        annotations={"source": build.source_url or None},
        dockerfile=build.dockerfile_text,
        builders=door.builders,
        allow_floating_tags=allow_floating_tags,
    )
    announce(release_plan)
    split = _split_build(grouped(release_plan.builders), build, source, door)
    signer = await make_signer(door.endpoint)
    registries = sorted({t.registry for t in release_plan.active_targets if not t.ephemeral})
    endpoints = {r: door.endpoint(r) for r in registries}
    async with contextlib.AsyncExitStack() as stack:
        if any(t.ephemeral for t in release_plan.active_targets):
            service = await ephemeral_registry_service(tools.registry, EPHEMERAL_REGISTRY)
            port = int(EPHEMERAL_REGISTRY.rpartition(":")[2])
            address = await stack.enter_async_context(host_tunnel(service, port)) if door.tunnel else await service.endpoint(port=port)
            endpoints[EPHEMERAL_REGISTRY] = RegistryEndpoint(
                registry=EPHEMERAL_REGISTRY, host=EPHEMERAL_REGISTRY, address=address, service=service, insecure=True
            )
        await keep_running([*endpoints.values(), *(signer.sigstore.services if signer is not None else ())])
        state = ReleaseState(
            plan=release_plan,
            source=build.source,
            build=build.spec(),
            access=RegistryAccess(endpoints=endpoints, credentials=door.credentials),
            workdir=door.scratch(),
            allow_backwards=allow_backwards,
            allow_overwrite=allow_overwrite,
            registry_timeout=float(registry_timeout),
            out=door.out,
            progress_log=door.progress_log,
            signer=signer,
            source_url=build.source_url,
            secret_ids=layouts[0].record.build_secrets if layouts else tuple(name for name, _ in build.secrets),
            split=split,
            layouts=layouts,
            local_file=door.local_file,
            progress=door.progress,
            local_directory=door.local_directory,
        )
        report = dataclasses.replace(await run_publish(state), cache=cache_summary(door.cache))
    _write_publish_files(report, door, sign)
    return report


def _write_publish_files(report: PublishReport, door: Door, sign: SigningMode) -> None:
    """``report.json``, the GitHub Actions job summary and step outputs (reports/github.py) and,
    for a release that succeeded, ``release-notes.md`` in ``door.out``."""
    if door.out is not None:
        door.out.mkdir(parents=True, exist_ok=True)
        (door.out / "report.json").write_text(report.dumps() + "\n")
        write_github_files(report, door.out, verification_of(report, sign), f"{door.out_name}/report.json")
        notes = door.out / "release-notes.md"
        if report.ok:
            notes.write_text(render_release_notes(report, verification_of(report, sign)))
        elif notes.exists():
            notes.unlink()  # a failed release has no notes (an earlier run's would mislead)


def verification_of(report: PublishReport, sign: SigningMode) -> Verification:
    """How users verify the release: the signing mode, and the keyless signer read back."""
    signed_by = next((s for s in report.signatures if s.get("identity")), {})
    return Verification(mode=sign, certificate_identity=signed_by.get("identity", ""), certificate_oidc_issuer=signed_by.get("issuer", ""))


def write_github_files(report: PublishReport, out: Path, verification: Verification, report_path: str) -> None:
    """``summary.md`` and ``github-output.txt``: what a workflow appends to ``$GITHUB_STEP_SUMMARY``
    and ``$GITHUB_OUTPUT`` (module mode cannot reach them; the CLI in Actions also appends them)."""
    (out / SUMMARY_FILE).write_text(job_summary(report, verification))
    (out / OUTPUTS_FILE).write_text(outputs_file(step_outputs(report, report_path)))


def with_cache_check(report: Report, door: Door, outcomes: Sequence[ExportOutcome], export_seconds: float | None) -> Report:
    """The report with what the export check saw after the sessions closed; a failed export is a
    warning in the report, never a failed release (``report.json`` is written again)."""
    if not isinstance(report, PublishReport | RebuildReport):
        return report
    summary = cache_summary(door.cache, outcomes, export_seconds)
    if isinstance(report, RebuildReport):
        return dataclasses.replace(report, cache=summary)
    timings = {**report.timings, **({"cache_export": export_seconds} if export_seconds is not None and door.cache.exports else {})}
    updated = dataclasses.replace(report, cache=summary, timings=timings)
    if door.out is not None and (door.out / "report.json").exists():
        (door.out / "report.json").write_text(updated.dumps() + "\n")
    return updated


def _host_layout(tree: HostSource) -> LoadedLayout:
    root = Path(tree.path)
    if not root.is_dir():
        raise InvalidInput("--from", tree.path, "is not a directory", "Pass the directory `shipyard build --out` wrote.")
    return read_layout(tree.path, root)


async def load_layouts(from_: Sequence[SourceTree], build: SourceBuild, platform: Sequence[str], door: Door) -> tuple[LoadedLayout, ...]:
    """``publish --from``: the layouts read, checked to belong to this release (same commit,
    epoch, Dockerfile, stage and build arguments; each platform once, none missing) and every
    blob hashed, all before anything is assembled or pushed. Bad layouts raise (exit 2)."""
    loaded = []
    for number, tree in enumerate(from_, 1):
        if isinstance(tree, HostSource):
            loaded.append(_host_layout(tree))
        else:  # a module's Directory argument: copied into the scratch space
            root = door.scratch() / f"from-{number}"
            await tree.directory().export(str(root))
            loaded.append(read_layout(f"#{number}", root))
    release = ReleaseInputs(
        platforms=parse_platforms(list(platform) or list(DEFAULT_PLATFORMS)),
        commit=build.sha,
        source_date_epoch=resolve_epoch(build.source_date_epoch, build.commit_epoch),
        dockerfile=build.dockerfile,
        dockerfile_digest=sha256_digest(build.dockerfile_text.encode()),
        target=build.target,
        build_args=build.build_args,
    )
    check_layouts([(layout.name, layout.record) for layout in loaded], release)
    for layout in loaded:
        await anyio.to_thread.run_sync(verify_layout, layout)
    return tuple(loaded)
