"""The one implementation of each command that runs in the engine, shared by both front doors.

``cli.py`` (client mode: the host is the caller's machine) and ``main.py`` (module mode: the
caller is ``dagger call``) differ only in how they obtain the source directory, credentials,
registry endpoints and scratch space; everything else happens here.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import dagger

from shipyard.pipeline import ReleaseState, run_publish, run_rebuild_check
from shipyard.plan.config import SbomFormat, ScanPolicy, SigningMode, SmokeTest, ToolImages, parse_ignore_list
from shipyard.plan.errors import InvalidInput
from shipyard.plan.notes import Verification, render_release_notes
from shipyard.plan.plan import EPHEMERAL_REGISTRY, build_release_plan
from shipyard.plan.refs import parse_reference
from shipyard.plan.report import PublishReport, RebuildReport
from shipyard.plan.tags import parse_flavor, parse_tag_specs
from shipyard.secrets import Credentials
from shipyard.steps.build import BuildSpec
from shipyard.steps.sign import SigningKey
from shipyard.steps.tools import RegistryAccess, RegistryEndpoint, ephemeral_registry_service, host_tunnel

TOOL_IMAGES_ENV = "SHIPYARD_TOOL_IMAGES"
TRIVYIGNORE = ".trivyignore"  # read from the source when no --trivyignore is given, as Trivy reads it from its directory


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
            raise InvalidInput("build-arg", item, "is not NAME=VALUE", "Write e.g. --build-arg VERSION=1.2.3.")
        out[name.strip()] = value
    return out


@dataclass(frozen=True)
class SourceBuild:
    """What to build and how to stamp it: the same for a release and for its rebuild check."""

    source: dagger.Directory
    dockerfile: str = "Dockerfile"
    target: str = ""
    build_args: Sequence[str] = ()
    secrets: Sequence[dagger.Secret] = ()
    secret_ids: Sequence[str] = ()  # the secrets' ids (for the provenance; never their values)
    sha: str = ""
    source_date_epoch: int | None = None
    commit_epoch: int | None = None
    source_url: str = ""


def check_signing(signing: SigningMode, *, has_key: bool) -> None:
    """Signing options that cannot work are refused before anything runs."""
    if signing is SigningMode.KEYLESS:
        raise InvalidInput("--sign", "keyless", "is not available yet", "Use --sign key with --cosign-key, or --sign none.")
    if signing is SigningMode.KEY and not has_key:
        raise InvalidInput("--sign", "key", "needs a private key", "Add --cosign-key file:cosign.key (and --cosign-password env:NAME).")


def _build_spec(build: SourceBuild) -> BuildSpec:
    return BuildSpec(dockerfile=build.dockerfile, target=build.target, build_args=parse_build_args(build.build_args), secrets=build.secrets)


async def _dockerfile_text(source: dagger.Directory, dockerfile: str) -> str:
    if not await source.exists(dockerfile):
        raise InvalidInput("dockerfile", dockerfile, "is not in the source directory", "Pass --dockerfile relative to --source.")
    return await source.file(dockerfile).contents()


async def rebuild_check(
    build: SourceBuild,
    *,
    tag: str,
    against: str,
    platforms: Sequence[str],
    credentials: Mapping[str, Credentials],
    endpoint: Callable[[str], RegistryEndpoint],
    workdir: Path,
) -> RebuildReport:
    """Rebuild a release from source (nothing is pushed) and compare it with a published one."""
    ref = parse_reference(against, what="--against")
    dockerfile = await _dockerfile_text(build.source, build.dockerfile)
    plan = build_release_plan(
        tag=tag,
        sha=build.sha,
        platforms=platforms,
        source_date_epoch=build.source_date_epoch,
        commit_epoch=build.commit_epoch,
        annotations={"source": build.source_url or None},
        dockerfile=dockerfile,
    )
    access = RegistryAccess(endpoints={ref.registry: endpoint(ref.registry)}, credentials=credentials)
    state = ReleaseState(plan=plan, source=build.source, build=_build_spec(build), access=access, workdir=workdir)
    return await run_rebuild_check(state, ref)


async def publish(
    build: SourceBuild,
    *,
    tag: str,
    targets: Sequence[str],
    platforms: Sequence[str],
    credentials: Mapping[str, Credentials],
    endpoint: Callable[[str], RegistryEndpoint],
    workdir: Path,
    tools: ToolImages,
    event: str = "push",
    spec: Sequence[str] = (),
    flavor: Sequence[str] = (),
    allow_backwards: bool = False,
    out: Path | None = None,
    tunnel: bool = False,
    progress_log: Path | None = None,
    signing: SigningMode = SigningMode.NONE,
    signing_key: SigningKey | None = None,
    sbom_formats: Sequence[SbomFormat] = (),
    scan: ScanPolicy | None = None,
    provenance: bool = False,
    smoke: SmokeTest | None = None,
) -> PublishReport:
    """Plan, then build, assemble, push by digest, promote tags and verify.

    ``tunnel``: reach services in the engine (the zero-config registry) through a tunnel to this
    machine (client mode); a module reaches them by their endpoint instead.
    """
    signing = signing.resolve(has_key=signing_key is not None)
    check_signing(signing, has_key=signing_key is not None)
    dockerfile_text = await _dockerfile_text(build.source, build.dockerfile)
    if scan is not None and not scan.ignore and await build.source.exists(TRIVYIGNORE):
        scan = ScanPolicy(fail_on=scan.fail_on, ignore=tuple(parse_ignore_list(await build.source.file(TRIVYIGNORE).contents())))
    plan = build_release_plan(
        tag=tag,
        sha=build.sha,
        signing=signing,
        sbom_formats=sbom_formats,
        scan=scan,
        provenance=provenance,
        smoke=smoke,
        event=event,
        targets=targets,
        credentials=list(credentials),
        platforms=platforms,
        tag_specs=parse_tag_specs(list(spec)) if spec else None,
        flavor=parse_flavor(list(flavor)) if flavor else None,
        tools=tools,
        source_date_epoch=build.source_date_epoch,
        commit_epoch=build.commit_epoch,
        annotations={"source": build.source_url or None},
        dockerfile=dockerfile_text,
    )
    registries = sorted({t.registry for t in plan.active_targets if not t.ephemeral})
    endpoints = {r: endpoint(r) for r in registries}
    async with contextlib.AsyncExitStack() as stack:
        if any(t.ephemeral for t in plan.active_targets):
            service = await ephemeral_registry_service(tools.registry, EPHEMERAL_REGISTRY)
            port = int(EPHEMERAL_REGISTRY.rpartition(":")[2])
            address = await stack.enter_async_context(host_tunnel(service, port)) if tunnel else await service.endpoint(port=port)
            endpoints[EPHEMERAL_REGISTRY] = RegistryEndpoint(
                registry=EPHEMERAL_REGISTRY, host=EPHEMERAL_REGISTRY, address=address, service=service, insecure=True
            )
        access = RegistryAccess(endpoints=endpoints, credentials=credentials)
        state = ReleaseState(
            plan=plan,
            source=build.source,
            build=_build_spec(build),
            access=access,
            workdir=workdir,
            allow_backwards=allow_backwards,
            out=out,
            progress_log=progress_log,
            signing_key=signing_key if signing is SigningMode.KEY else None,
            source_url=build.source_url,
            secret_ids=tuple(build.secret_ids),
        )
        report = await run_publish(state)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(report.dumps() + "\n")
        notes = out / "release-notes.md"
        if report.ok:
            notes.write_text(render_release_notes(report, Verification(mode=signing)))
        elif notes.exists():
            notes.unlink()  # a failed release has no notes (an earlier run's would mislead)
    return report
