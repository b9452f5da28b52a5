"""The ONE implementation of each command, shared by both front doors.

``main.py`` (module mode: ``dagger call``) and ``cli.py`` (client mode: ``shipyard``) declare
nothing here: each command takes exactly the arguments of its Dagger function in ``main.py``
(same names), converted the same way by both doors, plus a :class:`Door`:

- enums arrive as enum members, lists as lists (never ``None``);
- a ``dagger.Secret`` arrives as a :data:`SecretInput`: the Secret itself (module) or the
  :class:`SecretValue` read from ``env:``/``file:`` (CLI); ``None`` when not given. The list of
  build secrets arrives as ``(id, SecretInput)`` pairs;
- a ``dagger.File`` arrives as its text (``None`` when not given);
- a ``dagger.Directory`` arrives as a :class:`SourceTree` (``None`` when not given);
- a ``list[dagger.Directory]`` arrives as a list of :class:`SourceTree` (``publish --from``);
- ``registry`` (Services) and ``format`` never arrive: the door holds the endpoints, and
  renders the returned report (``plan.report.render``).

Every command returns a report (``ok``, ``to_dict``, ``render_text``): a report that is not ok
exits 3 in the CLI and fails ``dagger call``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import json
import os
import sys
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import anyio
import dagger
from dagger import dag

from shipyard.auth import credentials_for
from shipyard.errors import InvalidInput, shipyard_error_in
from shipyard.pipeline import (
    BuildState,
    ReleaseJob,
    SplitBuild,
    VerifyState,
    run_build,
    run_publish,
    run_rebuild_check,
    run_verify,
)
from shipyard.registries.backends.apply import run_cleanup
from shipyard.registries.backends.dockerhub import DockerHub, validate_description
from shipyard.registries.backends.select import BackendKind, open_backend
from shipyard.release.builders import Builder, grouped, parse_builders
from shipyard.release.cache import CacheConfig, CacheDoor, ExportOutcome, cache_summary, group_suffix
from shipyard.release.config import (
    SbomFormat,
    ScanPolicy,
    SigningMode,
    SmokeTest,
    Target,
    ToolImages,
    lowercase_notice,
    parse_api_url,
    provenance_from_args,
    sbom_formats_from_args,
    scan_policy_from_args,
)
from shipyard.release.image import sha256_digest
from shipyard.release.layouts import BuildRecord, BuildReport, LayoutImage, ReleaseInputs, check_layouts, resolve_epoch
from shipyard.release.plan import EPHEMERAL_REGISTRY, ReleasePlan, build_release_plan, check_custom_tag, check_release_tag
from shipyard.release.settings import KEYS, PYPROJECT, SETTINGS_FILE, Origin, SettingsFile, parse_settings, resolve_settings
from shipyard.release.vocabulary import attestation_spellings, renamed_arguments
from shipyard.reports.events import SILENT, Progress
from shipyard.reports.github import OUTPUTS_FILE, SUMMARY_FILE, job_summary, outputs_file, step_outputs
from shipyard.reports.notes import Verification, render_release_notes
from shipyard.reports.report import CleanupReport, PublishReport, ReadmeReport, RebuildReport, Report, ReportCheck
from shipyard.reports.verification import VerifyReport, parse_attestation_types
from shipyard.retention.policy import policy_from_args
from shipyard.secrets import Credentials, SecretValue
from shipyard.smoke_inputs import read_smoke_plan
from shipyard.source import HostSource, SourceInfo, SourceTree
from shipyard.steps.build import BuildSpec
from shipyard.steps.layouts import LoadedLayout, read_layout, verify_layout
from shipyard.steps.provenance import shipyard_version
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
from shipyard.supply_chain.cosign import TrustPolicy, rewrite_loopback_url, signing_identity, token_expiry, trust_files, trust_policy
from shipyard.tagging.labels import parse_epoch
from shipyard.tagging.tags import TagResult, parse_flavor, parse_tag_specs, tags_for
from shipyard.values.platforms import DEFAULT_PLATFORMS, Platform, parse_platforms
from shipyard.values.refs import DOCKER_HUB, ImageRef, parse_reference, parse_repository

TOOL_IMAGES_ENV = "SHIPYARD_TOOL_IMAGES"
TRIVYIGNORE = ".trivyignore"  # read from the source when no --trivyignore is given

SecretInput = dagger.Secret | SecretValue


def engine_secret(name: str, value: SecretInput) -> dagger.Secret:
    """A secret as the engine takes it (inside a session): a Secret as is, a local value set as one."""
    return value if isinstance(value, dagger.Secret) else dag.set_secret(name, value.reveal())


def _direct(registry: str) -> RegistryEndpoint:
    return RegistryEndpoint(registry=registry, host=registry)


@dataclass(frozen=True)
class Door:
    """What differs between ``dagger call`` and ``shipyard``: everything else is the command's.

    ``credentials``: registry -> credentials (``with-registry-auth`` / ``--registry-auth``).
    ``declared_registries``: registries the caller says will have credentials, unread (``shipyard
    plan --registry-credentials``: a dry run on a machine without the tokens).
    ``endpoint``: how a registry is reached (module: Services; CLI: the host's loopback).
    ``workdir``: scratch space of an engine command. ``out``: where a release's files go.
    ``tunnel``: reach services in the engine through a tunnel to this machine (client mode).
    ``environment_epoch``: ``$SOURCE_DATE_EPOCH`` of the caller, when the door can read it (CLI).
    ``builders``: ``--builder PLATFORM=ENGINE_ADDRESS`` values of ``publish`` and ``plan`` (CLI
    only: a function running in an engine cannot open a session with another engine).
    ``local_file``, ``local_directory``: a file or directory of ``workdir`` as the engine takes it
    (CLI: the host's; module: the module's own); ``None``: the host's. ``engine``: the engine's address, for ``build``'s record.
    ``cache``: the build cache of the door's sessions (CLI: ``--cache-from``/``--cache-to`` or its
    environment; module mode: the caller's ``dagger`` CLI decides, invisible to the function).
    ``session_environment``: what each builder session also gets (the cache's Docker config).
    """

    credentials: Mapping[str, Credentials] = field(default_factory=dict)
    declared_registries: frozenset[str] = frozenset()
    endpoint: Callable[[str], RegistryEndpoint] = _direct
    workdir: Path | None = None
    out: Path | None = None
    tunnel: bool = False
    progress_log: Path | None = None
    tools: Callable[[], ToolImages] = ToolImages  # the default tool images (CLI: $SHIPYARD_TOOL_IMAGES)
    environment_epoch: str | None = None
    builders: tuple[str, ...] = ()
    local_file: Callable[[Path], dagger.File] | None = None
    local_directory: Callable[[Path], dagger.Directory] | None = None
    engine: str = "default"
    cache: CacheConfig = field(default_factory=lambda: CacheConfig(door=CacheDoor.CALLER))
    session_environment: Mapping[str, str] = field(default_factory=dict)
    progress: Progress = SILENT  # a release's live events (CLI: --progress; module mode: none)
    out_name: str = "dist"  # how the caller names ``out`` (module mode: the -o directory the workflows use)

    def scratch(self) -> Path:
        if self.workdir is None:
            raise RuntimeError("this command needs an engine session's scratch directory")
        return self.workdir


def tool_images_from_text(text: str, origin: str) -> ToolImages:
    """Tool images from a JSON object naming some or all tools (``{"crane": "…@sha256:…"}``)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput("tool images", origin, f"is not JSON ({exc.msg})", 'Write e.g. {"crane": "mirror/crane:v0.22.1"}.') from None
    if not isinstance(data, dict):
        raise InvalidInput("tool images", origin, "is not a JSON object", 'Write e.g. {"crane": "mirror/crane:v0.22.1"}.')
    known = set(ToolImages.model_fields)
    return ToolImages(**{k: v for k, v in data.items() if k in known})


def tool_images_from_env() -> ToolImages:
    """The tool images named by ``$SHIPYARD_TOOL_IMAGES`` (a JSON file: mirrors, air-gapped use), else the defaults."""
    path = os.environ.get(TOOL_IMAGES_ENV)
    if not path:
        return ToolImages()
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InvalidInput(TOOL_IMAGES_ENV, path, f"cannot be read ({exc.strerror})", "Point it at a JSON file of tool images.") from None
    return tool_images_from_text(text, path)


def parse_build_args(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InvalidInput("--build-arg", item, "is not NAME=VALUE", "Write e.g. --build-arg VERSION=1.2.3.")
        out[name.strip()] = value
    return out


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


def _epoch(source_date_epoch: int | None, door: Door) -> int | None:
    """``--source-date-epoch``, else the caller's ``$SOURCE_DATE_EPOCH`` (CLI), else unset."""
    if source_date_epoch is not None:
        return parse_epoch(source_date_epoch, what="--source-date-epoch")
    return parse_epoch(door.environment_epoch, what="SOURCE_DATE_EPOCH (environment)")


def _block(lines: str) -> list[str]:
    """A ``tags:``/``flavor:`` block (one rule per line, pasted verbatim) as the parsers take it."""
    return [lines] if lines.strip() else []


async def _info(source: SourceTree | None) -> SourceInfo:
    return await source.info() if source is not None else SourceInfo()


def _scan_policy(fail_on: str, ignore: str | None) -> ScanPolicy | None:
    return ScanPolicy.from_strings(fail_on, [ignore] if ignore else []) if fail_on else None


# --- the settings file: shipyard.toml in the source -----------------------------------------


async def read_settings(source: SourceTree | None) -> SettingsFile:
    """The source's ``shipyard.toml``, else its ``pyproject.toml``'s ``[tool.shipyard]``, else none."""
    if source is None:
        return SettingsFile()
    text = await source.read_text(SETTINGS_FILE, what=f"the source's {SETTINGS_FILE}")
    if text is not None:
        return parse_settings(text, SETTINGS_FILE)
    text = await source.read_text(PYPROJECT, what=f"the source's {PYPROJECT}")
    if text is not None and "shipyard" in text:
        return parse_settings(text, PYPROJECT)
    return SettingsFile()


@dataclass(frozen=True)
class Settled:
    """A command's arguments as it takes them: old spellings under their new names (``warnings``
    says which were used), and each setting the flag's value, else the settings file's, else the
    default; ``origins`` says which (``plan`` shows it)."""

    arguments: dict[str, Any]
    origins: dict[str, Origin]
    file: SettingsFile
    warnings: tuple[str, ...] = ()


async def settle(name: str, arguments: Mapping[str, Any]) -> Settled:
    """The one place both doors turn what was given into a command's arguments: deprecated names
    (release/vocabulary.py), then the settings file (a setting not given arrives as ``None``)."""
    spoken, warnings = renamed_arguments(name, arguments)
    if name == "verify":
        spoken["attestation"], old = attestation_spellings(list(spoken.get("attestation") or []))
        warnings += old
    keys = settings_keys(name)
    file = await read_settings(spoken.get("source")) if keys else SettingsFile()
    values, origins = resolve_settings(spoken, file, keys)
    return Settled(arguments={**spoken, **values}, origins=origins, file=file, warnings=tuple(warnings))


def required_image(image: str, what: str) -> str:
    if not image.strip():
        raise InvalidInput("--image", image, f"is missing: it names {what}", "Give --image, e.g. --image ghcr.io/acme/app.")
    return image


def settings_keys(name: str) -> tuple[str, ...]:
    """The settings ``commands.<name>`` takes (the keys of the file that are its arguments)."""
    parameters = inspect.signature(inspect.unwrap(globals()[name])).parameters
    if "source" not in parameters:  # the file is read from --source: commands without one take no settings
        return ()
    return tuple(k for k in KEYS if k in parameters)


def with_settings(command: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """A command whose arguments go through :func:`settle` (old names warned about on stderr, the
    source's settings file read); a command with a ``settings`` parameter also gets the
    :class:`Settled` (``plan`` shows the origins)."""
    wants = "settings" in inspect.signature(command).parameters

    @functools.wraps(command)
    async def run(**arguments: Any) -> Any:
        settled = await settle(command.__name__, arguments)
        for warning in settled.warnings:
            print(f"shipyard: warning: {warning}", file=sys.stderr)
        return await command(**settled.arguments, **({"settings": settled} if wants else {}))

    return run


# --- tags and plan: pure decisions (no engine) ------------------------------------------------


async def tags(
    *,
    ref: str,
    sha: str,
    event: str,
    default_branch: str,
    spec: str,
    flavor: str,
    base_ref: str,
    source_date_epoch: int | None,
    source: SourceTree | None,
    door: Door,
) -> TagResult:
    """The image tags for a Git ref, exactly as docker/metadata-action computes them."""
    info = await _info(source)
    result = tags_for(
        ref=ref,
        sha=sha or info.sha,
        event=event,
        default_branch=default_branch,
        base_ref=base_ref,
        specs=_block(spec),
        flavor=_block(flavor),
        source_date_epoch=_epoch(source_date_epoch, door),
        commit_epoch=info.commit_epoch,
    )
    if not result.tags:  # nothing to tag is a mistake in the inputs, not an answer to print
        raise InvalidInput(
            "--ref",
            ref,
            "gives no image tag with these tag rules" if ref else "is empty, so there is no tag",
            "Give the Git ref that triggered the release (e.g. --ref refs/tags/v1.2.3), or a tag rule that applies to it.",
        )
    return result


@with_settings
async def plan(
    *,
    tag: str,
    image: Sequence[str],
    platform: Sequence[str],
    sha: str,
    event: str,
    spec: str,
    flavor: str,
    sign: SigningMode,
    sbom: Sequence[SbomFormat],
    provenance: bool,
    scan_fail_on: str,
    no_sbom: bool,
    no_provenance: bool,
    no_scan: bool,
    allow_floating_tags: bool,
    source_date_epoch: int | None,
    source: SourceTree | None,
    dockerfile: str,
    door: Door,
    settings: Settled | None = None,
) -> ReleasePlan:
    """The whole release plan, touching nothing: what ``publish`` with the same arguments (and
    the same settings file) would do; ``sign auto`` plans no signing, as no key is read here."""
    info = await _info(source)
    shown = settings.origins if settings is not None else {}
    release_plan = build_release_plan(
        tag=tag,
        sha=sha or info.sha,
        event=event,
        targets=image,
        credentials=sorted({*door.credentials, *door.declared_registries}),
        platforms=platform,
        tag_specs=parse_tag_specs(_block(spec)) if _block(spec) else None,
        flavor=parse_flavor(_block(flavor)) if _block(flavor) else None,
        signing=sign.resolve(has_key=False),
        sbom_formats=sbom_formats_from_args(list(sbom), off=no_sbom),
        provenance=provenance_from_args(provenance, off=no_provenance),
        scan=scan_policy_from_args(scan_fail_on, off=no_scan),
        tools=door.tools(),
        source_date_epoch=_epoch(source_date_epoch, door),
        commit_epoch=info.commit_epoch,
        annotations={"source": info.url or None},
        dockerfile=await source.read_text(dockerfile, what="--dockerfile") if source is not None else None,
        builders=door.builders,
        allow_floating_tags=allow_floating_tags,
    )
    return announce(release_plan).model_copy(
        update={
            "cache": door.cache.describe(),
            "settings_file": settings.file.path if settings is not None else "",
            "settings": {k: {"value": _shown_setting(settings.arguments[k]), "from": o.value} for k, o in shown.items()}
            if settings is not None
            else {},
        }
    )


def announce(release_plan: ReleasePlan) -> ReleasePlan:
    """Say on stderr what the plan changed of the input (upper-case target names lowercased), so
    ``--json`` readers see it too; in module mode it shows in ``dagger call``'s output."""
    for target in release_plan.targets:
        if target.written_as is not None:
            print(f"shipyard: notice: {lowercase_notice(target.written_as, target.repository)}", file=sys.stderr)
    return release_plan


def _shown_setting(value: Any) -> Any:
    """A setting's value as the plan's JSON shows it (enums as their value)."""
    if isinstance(value, (list, tuple)):
        return [_shown_setting(v) for v in value]
    return value.value if isinstance(value, StrEnum) else value


# --- publish and rebuild-check: builds in the engine ------------------------------------------


@dataclass(frozen=True)
class SourceBuild:
    """What to build and how to stamp it: the same for a release and for its rebuild check."""

    source: dagger.Directory
    dockerfile: str
    dockerfile_text: str
    target: str
    build_args: dict[str, str]
    secrets: tuple[tuple[str, SecretInput], ...]
    sha: str
    source_date_epoch: int | None
    commit_epoch: int | None
    source_url: str

    def spec(self) -> BuildSpec:
        """The build as the engine runs it: each secret becomes a ``dagger.Secret`` named by its id."""
        secrets = [engine_secret(name, value) for name, value in self.secrets]
        return BuildSpec(
            dockerfile=self.dockerfile,
            target=self.target,
            build_args=self.build_args,
            secrets=secrets,
            dockerfile_text=self.dockerfile_text,
        )


async def _source_build(
    source: SourceTree,
    *,
    dockerfile: str,
    build_target: str,
    build_arg: Sequence[str],
    build_secret: Sequence[tuple[str, SecretInput]],
    sha: str,
    source_date_epoch: int | None,
    door: Door,
) -> SourceBuild:
    """Read and check everything a build needs before the engine builds anything."""
    build_args = parse_build_args(build_arg)
    text = await source.read_text(dockerfile, what="--dockerfile")
    if text is None:
        raise InvalidInput("--dockerfile", dockerfile, "is not in the source directory", "Pass --dockerfile relative to --source.")
    info = await source.info()
    return SourceBuild(
        source=source.directory(),
        dockerfile=dockerfile,
        dockerfile_text=text,
        target=build_target,
        build_args=build_args,
        secrets=tuple(build_secret),
        sha=sha or info.sha,
        source_date_epoch=_epoch(source_date_epoch, door),
        commit_epoch=info.commit_epoch,
        source_url=info.url,
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


def preflight(name: str, arguments: Mapping[str, Any], door: Door | None = None) -> None:
    """The checks of an engine command that need no engine, so a door can run them before it
    starts one (bad input exits 2 at once); each command repeats them itself."""
    checks: dict[str, Callable[..., object]] = {"publish": publish_steps, "verify": verify_checks}
    check = checks.get(name)
    if check is not None:
        check(**{k: arguments[k] for k in inspect.signature(check).parameters})
    if name == "publish":
        check_release_inputs(arguments)
    if name == "publish" and door is not None:
        release_builders(arguments["platform"], door)
        if arguments.get("from_") and door.builders:
            raise InvalidInput(
                "--builder", list(door.builders), "cannot go with --from: the layouts were built already", "Drop --builder or --from."
            )
        for tree in arguments.get("from_") or []:  # local layouts: each must be one build wrote (blobs are hashed later)
            if isinstance(tree, HostSource):
                _host_layout(tree)


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


def verify_checks(
    *,
    image: str,
    key: str | None,
    certificate_identity: str,
    certificate_identity_regexp: str,
    certificate_oidc_issuer: str,
    certificate_oidc_issuer_regexp: str,
    rekor_url: str,
    sigstore_trusted_root: str | None,
    attestation: Sequence[str],
    scan_fail_on: str,
    trivyignore: str | None,
) -> tuple[ImageRef, TrustPolicy, tuple[str, ...], ScanPolicy | None]:
    """verify's arguments checked and parsed: the reference, whom to trust, what must be there."""
    policy = trust_policy(
        has_key=key is not None,
        certificate_identity=certificate_identity,
        certificate_identity_regexp=certificate_identity_regexp,
        certificate_oidc_issuer=certificate_oidc_issuer,
        rekor_url=rekor_url,
        certificate_oidc_issuer_regexp=certificate_oidc_issuer_regexp,
        has_trusted_root=sigstore_trusted_root is not None,
    )
    if sigstore_trusted_root is not None:
        trust_files(sigstore_trusted_root)
    reference = parse_reference(required_image(image, "the release to verify"), what="--image")
    return reference, policy, parse_attestation_types(attestation), _scan_policy(scan_fail_on, trivyignore)


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
        state = ReleaseJob(
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


@with_settings
async def build(
    *,
    source: SourceTree,
    platform: Sequence[str],
    dockerfile: str,
    build_target: str,
    build_arg: Sequence[str],
    build_secret: Sequence[tuple[str, SecretInput]],
    sha: str,
    source_date_epoch: int | None,
    runner: str,
    door: Door,
) -> BuildReport:
    """Build platforms (as ``publish`` would) into an OCI layout in ``door.out`` with its record;
    nothing is pushed. ``publish --from`` releases what one or several builds wrote."""
    platforms = parse_platforms(list(platform) or list(DEFAULT_PLATFORMS))
    source_build = await _source_build(
        source,
        dockerfile=dockerfile,
        build_target=build_target,
        build_arg=build_arg,
        build_secret=build_secret,
        sha=sha,
        source_date_epoch=source_date_epoch,
        door=door,
    )
    epoch = resolve_epoch(source_build.source_date_epoch, source_build.commit_epoch)
    if door.out is None:
        raise RuntimeError("build needs an output directory")

    def record(digests: dict[Platform, str], engine_version: str) -> BuildRecord:
        return BuildRecord(
            images=tuple(LayoutImage(platform=str(p), digest=digests[p]) for p in platforms),
            commit=source_build.sha,
            source_url=source_build.source_url,
            source_date_epoch=epoch,
            dockerfile=source_build.dockerfile,
            dockerfile_digest=sha256_digest(source_build.dockerfile_text.encode()),
            target=source_build.target,
            build_args=source_build.build_args,
            build_secrets=tuple(sorted(name for name, _ in source_build.secrets)),
            runner=runner,
            engine=door.engine,
            engine_version=engine_version,
            shipyard_version=shipyard_version(),
        )

    state = BuildState(
        source=source_build.source,
        build=source_build.spec(),
        platforms=platforms,
        workdir=door.scratch(),
        out=door.out,
        record=record,
        commit=source_build.sha,
        source_url=source_build.source_url,
        source_date_epoch=epoch,
        progress_log=door.progress_log,
    )
    return await run_build(state)


@with_settings
async def rebuild_check(
    *,
    tag: str,
    image: str,
    source: SourceTree,
    platform: Sequence[str],
    dockerfile: str,
    build_target: str,
    build_arg: Sequence[str],
    build_secret: Sequence[tuple[str, SecretInput]],
    sha: str,
    source_date_epoch: int | None,
    door: Door,
) -> RebuildReport:
    """Rebuild a release from source (nothing is pushed) and compare it with a published one."""
    ref = parse_reference(required_image(image, "the published release to compare with"), what="--image")
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
    release_plan = build_release_plan(
        tag=tag,
        sha=build.sha,
        platforms=platform,
        source_date_epoch=build.source_date_epoch,
        commit_epoch=build.commit_epoch,
        annotations={"source": build.source_url or None},
        dockerfile=build.dockerfile_text,
        check_tag_kind=False,  # the release was checked when it was published; nothing is tagged here
    )
    access = RegistryAccess(endpoints={ref.registry: door.endpoint(ref.registry)}, credentials=door.credentials)
    await keep_running(access.endpoints.values())
    state = ReleaseJob(plan=release_plan, source=build.source, build=build.spec(), access=access, workdir=door.scratch())
    return dataclasses.replace(await run_rebuild_check(state, ref), cache=cache_summary(door.cache))


@with_settings
async def verify(
    *,
    image: str,
    key: str | None,
    certificate_identity: str,
    certificate_identity_regexp: str,
    certificate_oidc_issuer: str,
    certificate_oidc_issuer_regexp: str,
    rekor_url: str,
    sigstore_trusted_root: str | None,
    attestation: Sequence[str],
    scan_fail_on: str,
    trivyignore: str | None,
    tool_images: str | None,
    door: Door,
) -> VerifyReport:
    """Verify a published release as a consumer: signatures on the index and every platform, the
    expected attestations, the SBOMs read out of them, a re-scan, and an inspection."""
    reference, policy, attestations, scan = verify_checks(
        image=image,
        key=key,
        certificate_identity=certificate_identity,
        certificate_identity_regexp=certificate_identity_regexp,
        certificate_oidc_issuer=certificate_oidc_issuer,
        certificate_oidc_issuer_regexp=certificate_oidc_issuer_regexp,
        rekor_url=rekor_url,
        sigstore_trusted_root=sigstore_trusted_root,
        attestation=attestation,
        scan_fail_on=scan_fail_on,
        trivyignore=trivyignore,
    )
    hosts, services = sigstore_hosts({"rekor-url": policy.rekor_url} if not policy.key else {}, door.endpoint)
    state = VerifyState(
        reference=reference,
        policy=policy.reached_through(hosts),
        sigstore=Sigstore(services=services, trusted_root=sigstore_trusted_root),
        public_key=key,
        attestations=attestations,
        scan=scan,
        tools=tool_images_from_text(tool_images, "--tool-images") if tool_images is not None else door.tools(),
        access=RegistryAccess(endpoints={reference.registry: door.endpoint(reference.registry)}, credentials=door.credentials),
        out=door.out,
    )
    await keep_running([*state.access.endpoints.values(), *state.sigstore.services])
    report = await run_verify(state)
    if door.out is not None:
        door.out.mkdir(parents=True, exist_ok=True)
        (door.out / "verify.json").write_text(report.dumps() + "\n")
    return report


# --- cleanup and sync-readme: registry APIs over HTTP (no engine) -----------------------------


@with_settings
async def cleanup(
    *,
    image: str,
    keep_untagged: int | None,
    keep_prereleases: int | None,
    older_than: str,
    protect: Sequence[str],
    protect_regex: Sequence[str],
    no_default_protection: bool,
    only_untagged: bool,
    backend: BackendKind,
    api_url: str,
    apply: bool,
    door: Door,
) -> CleanupReport:
    """Pick the backend, plan with the retention policy, and delete with ``apply``."""
    policy = policy_from_args(
        keep_untagged=keep_untagged,
        keep_prereleases=keep_prereleases,
        older_than=older_than,
        protect=list(protect),
        protect_regex=list(protect_regex),
        only_untagged=only_untagged,
        default_protection=not no_default_protection,
    )
    credentials = credentials_for(
        door.credentials, parse_repository(required_image(image, "the repository to clean"), what="--image").registry
    )
    try:
        async with open_backend(image, backend, credentials, api_url) as (chosen, path):
            return await run_cleanup(chosen, path, policy, now=datetime.now(UTC), apply=apply)
    except BaseExceptionGroup as group:  # concurrent reads: report the registry's error, not the group
        raise shipyard_error_in(group) or group from None


async def check_report(*, report: str, door: Door) -> ReportCheck:
    """The outcome a ``report.json`` records (not ok: exit 3 / the function fails)."""
    del door  # reads nothing else
    return ReportCheck.from_json(report)


@with_settings
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
