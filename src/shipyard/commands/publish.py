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
    Door,
    SecretInput,
    _block,
    engine_secret,
)
from shipyard.commands.options import ReleaseOptions, SigningOptions, release_options
from shipyard.commands.plan import SourceFacts
from shipyard.commands.plan import release_plan as release_plan_of
from shipyard.commands.source_build import SourceBuild, _source_build
from shipyard.errors import InvalidInput
from shipyard.output_dir import OutputDir
from shipyard.pipeline import (
    ReleaseJob,
    SplitBuild,
    run_publish,
)
from shipyard.release.builders import Builder, grouped, parse_builders
from shipyard.release.cache import ExportOutcome, cache_summary, group_suffix
from shipyard.release.config import (
    SigningMode,
    Target,
)
from shipyard.release.image import sha256_digest
from shipyard.release.layouts import ReleaseInputs, check_layouts, resolve_epoch
from shipyard.release.plan import EPHEMERAL_REGISTRY, check_custom_tag, check_release_tag
from shipyard.reports.github import OUTPUTS_FILE, SUMMARY_FILE, job_summary, outputs_file, step_outputs
from shipyard.reports.notes import Verification, render_release_notes
from shipyard.reports.report import PublishReport, RebuildReport, Report
from shipyard.secrets import SecretValue
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
from shipyard.values.refs import ImageRef, Registry


def signer_for(
    signing: SigningOptions,
) -> Callable[[Callable[[str], RegistryEndpoint]], Awaitable[Signer | None]]:
    """Check the signing options (before anything runs); returns how to make the signer inside
    the engine session, where the secrets become ``dagger.Secret``s and a private Sigstore on
    the loopback is bound as services (``endpoint``: how the door reaches ``127.0.0.1:P``)."""
    cosign_key, cosign_password, oidc_token = signing.key, signing.password, signing.oidc_token
    oidc_request_url, oidc_request_token, sigstore_trusted_root = signing.oidc_request_url, signing.oidc_request_token, signing.trusted_root
    identity = signing_identity(
        signing.resolved(),
        has_key=cosign_key is not None,
        has_token=oidc_token is not None,
        has_runner_request=(oidc_request_url is not None, oidc_request_token is not None),
        fulcio_url=signing.fulcio_url,
        rekor_url=signing.rekor_url,
        timestamp_url=signing.timestamp_url,
        has_trusted_root=sigstore_trusted_root is not None,
        bundles=signing.bundle,
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
    """What a release needs beyond its plan, checked before anything runs."""

    signer: Callable[[Callable[[str], RegistryEndpoint]], Awaitable[Signer | None]]  # made inside the engine session
    builders: tuple[Builder, ...]


def check_publish(options: ReleaseOptions, door: Door) -> PublishSteps:
    """Every check of publish's options that needs neither the source nor an engine, so a door
    runs them before it starts one (bad input exits 2 before anything starts or is written):
    contradicting or incomplete options raise InvalidInput."""
    if options.targets.registry_timeout < 1:
        raise InvalidInput(
            "--registry-timeout", options.targets.registry_timeout, "must be at least 1 second", "Give e.g. --registry-timeout 60."
        )
    signer = signer_for(options.signing)
    options.supply_chain.sbom_formats()
    options.supply_chain.with_provenance()
    options.smoke.test()
    options.scan.policy(options.scan.trivyignore)
    check_release_inputs(options)
    builders = release_builders(options.build.platforms, door.builders)
    if options.build.layouts and door.builders:
        raise InvalidInput(
            "--builder", list(door.builders), "cannot go with --from: the layouts were built already", "Drop --builder or --from."
        )
    for tree in options.build.layouts:  # local layouts: each must be one build wrote (blobs are hashed later)
        if isinstance(tree, HostSource):
            _host_layout(tree)
    return PublishSteps(signer=signer, builders=builders)


def check_release_inputs(options: ReleaseOptions) -> None:
    """A release's inputs that need neither the source nor an engine: the tag, platforms,
    targets and tag/flavor lines, checked as the plan will."""
    targets = options.targets
    check_release_tag(targets.tag)
    parse_platforms(list(options.build.platforms) or list(DEFAULT_PLATFORMS))
    parsed = Target.parse_all(targets.images)
    if len({t.repository for t in parsed}) != len(parsed):
        raise InvalidInput("--image", list(targets.images), "names the same repository twice", "List each repository once.")
    specs = parse_tag_specs(_block(targets.spec)) if _block(targets.spec) else None
    check_custom_tag(targets.tag, specs, options.promotion.allow_floating_tags)
    if _block(targets.flavor):
        parse_flavor(_block(targets.flavor))


def release_builders(platform: Sequence[str], builders: Sequence[str]) -> tuple[Builder, ...]:
    """``--builder`` checked against the release's platforms (``--platform`` or the defaults)."""
    if not builders:
        return ()
    return parse_builders(builders, parse_platforms(list(platform) or list(DEFAULT_PLATFORMS)))


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
    for builder in release_builders(platform, door.builders):
        refs += door.cache.for_group(group_suffix(builder.platforms)).export_refs()
    return tuple(dict.fromkeys(refs))


def _plaintext(name: str, value: SecretInput) -> SecretValue:
    if isinstance(value, SecretValue):
        return value
    raise InvalidInput("--builder", name, "cannot pass a module's build secret to another engine", "Run it from the shipyard command.")


async def prepare(given: Mapping[str, Any], door: Door) -> ReleaseOptions:
    """``publish``'s options, built once from what the door gave, and checked."""
    options = await release_options("publish", given, door.builders)
    check_publish(options, door)
    return options


async def publish(options: ReleaseOptions, door: Door) -> PublishReport:
    """Plan, then build, assemble, push by digest, promote tags and verify; ``report.json`` in ``door.out``."""
    steps = check_publish(options, door)
    source = options.build.source
    if source is None:
        raise InvalidInput("--source", None, "is missing", "Give the directory to build.")
    build = await _source_build(source, options.build, door)
    layouts: tuple[LoadedLayout, ...] = ()
    if options.build.layouts:
        layouts = await load_layouts(options.build.layouts, build, options.build.platforms, door)
        build = dataclasses.replace(build, sha=build.sha or layouts[0].record.commit)
    facts = SourceFacts(
        sha=build.sha,
        commit_epoch=build.commit_epoch,
        url=build.source_url,
        dockerfile_text=build.dockerfile_text,
        secret_ids=layouts[0].record.build_secrets if layouts else None,
    )
    release_plan = await release_plan_of(options, door, facts)
    split = _split_build(grouped(release_plan.builders), build, source, door)
    signer = await steps.signer(door.endpoint)
    registries = sorted({t.registry for t in release_plan.active_targets if not t.ephemeral})
    endpoints = {r: door.endpoint(r) for r in registries}
    async with contextlib.AsyncExitStack() as stack:
        if any(t.ephemeral for t in release_plan.active_targets):
            service = await ephemeral_registry_service(release_plan.tools.registry, EPHEMERAL_REGISTRY)
            port = Registry(EPHEMERAL_REGISTRY).port
            assert port is not None  # the plan names it with its port
            address = await stack.enter_async_context(host_tunnel(service, port)) if door.tunnel else await service.endpoint(port=port)
            endpoints[EPHEMERAL_REGISTRY] = RegistryEndpoint(
                registry=EPHEMERAL_REGISTRY, host=EPHEMERAL_REGISTRY, address=address, service=service, insecure=True
            )
        await keep_running([*endpoints.values(), *(signer.sigstore.services if signer is not None else ())])
        state = ReleaseJob(
            plan=release_plan,
            source=build.source,
            build=build.spec(),
            access=RegistryAccess(endpoints=endpoints, credentials=door.credentials),
            workdir=door.scratch(),
            registry_timeout=float(options.targets.registry_timeout),
            out=door.out,
            progress_log=door.progress_log,
            signer=signer,
            source_url=build.source_url,
            split=split,
            layouts=layouts,
            local_file=door.local_file,
            progress=door.progress,
            local_directory=door.local_directory,
        )
        report = dataclasses.replace(await run_publish(state), cache=cache_summary(door.cache), plan=release_plan.to_dict())
    _write_publish_files(report, door, release_plan.signing)
    return report


def _write_publish_files(report: PublishReport, door: Door, sign: SigningMode) -> None:
    """``report.json``, the GitHub Actions job summary and step outputs (reports/github.py) and,
    for a release that succeeded, ``release-notes.md`` in ``door.out``, through its one writer."""
    output = OutputDir(door.out)
    output.write_text("report.json", report.dumps() + "\n")
    write_github_files(report, output, verification_of(report, sign), f"{door.out_name}/report.json")
    if report.ok:
        output.write_text("release-notes.md", render_release_notes(report, verification_of(report, sign)))
    else:
        output.remove("release-notes.md")  # a failed release has no notes (an earlier run's would mislead)


def verification_of(report: PublishReport, sign: SigningMode) -> Verification:
    """How users verify the release: the signing mode, and the keyless signer read back."""
    signed_by = next((s for s in report.signatures if s.get("identity")), {})
    return Verification(mode=sign, certificate_identity=signed_by.get("identity", ""), certificate_oidc_issuer=signed_by.get("issuer", ""))


def write_github_files(report: PublishReport, out: OutputDir, verification: Verification, report_path: str) -> None:
    """``summary.md`` and ``github-output.txt``: what a workflow appends to ``$GITHUB_STEP_SUMMARY``
    and ``$GITHUB_OUTPUT`` (module mode cannot reach them; the CLI in Actions also appends them)."""
    out.write_text(SUMMARY_FILE, job_summary(report, verification))
    out.write_text(OUTPUTS_FILE, outputs_file(step_outputs(report, report_path)))


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
        OutputDir(door.out).write_text("report.json", updated.dumps() + "\n")
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
