"""The one options model: what ``publish``, ``plan``, ``build`` and ``rebuild-check`` were asked,
as frozen, typed groups built ONCE from the arguments a door hands over.

A door (``main.py`` for ``dagger call``, ``cli.py`` for ``shipyard``) gives a command the
mapping of its declared arguments (converted as ``commands/__init__.py`` says); :func:`settle`
puts old spellings under their new names and fills each setting from the flag, else the source's
settings file, else the default; then the functions here read each argument exactly once into its
group. An argument no group reads is a wiring bug and fails at once (:meth:`Arguments.done`), and
a unit test holds the arguments read equal to ``main.py``'s declaration, so an argument added to
the surface without a home here cannot slip through unused.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.commands.door import SecretInput
from shipyard.commands.settings import Settled, settle
from shipyard.release.config import SbomFormat, ScanPolicy, SigningMode, SmokeTest, provenance_from_args, sbom_formats_from_args
from shipyard.release.config import scan_policy_from_args as _scan_policy_from_args
from shipyard.release.settings import KEYS
from shipyard.source import SourceTree


class Arguments:
    """The arguments a door gave, each read once by name; :meth:`done` says when one was not."""

    def __init__(self, given: Mapping[str, Any]) -> None:
        self._given = dict(given)
        self.read: set[str] = set()

    def __call__(self, name: str, default: Any = None) -> Any:
        """The argument's value; ``default`` when the door did not give it (or gave ``None``)."""
        self.read.add(name)
        value = self._given.get(name)
        return default if value is None else value

    def done(self, command: str) -> None:
        left = sorted(set(self._given) - self.read)
        if left:  # a programming error, not bad input: the surface declares what no option reads
            raise RuntimeError(f"{command}: the arguments {left} reach no option (wire them in commands/options.py)")


@dataclass(frozen=True)
class BuildOptions:
    """What to build: the source, the platforms, the Dockerfile and its inputs."""

    source: SourceTree | None
    platforms: tuple[str, ...]  # as given; empty: the defaults (values/platforms.py)
    dockerfile: str
    target: str
    build_args: tuple[str, ...]  # NAME=VALUE, checked by commands/door.py::parse_build_args
    secrets: tuple[tuple[str, SecretInput], ...]  # (id, secret): the ids are names, the values stay secrets
    sha: str
    source_date_epoch: int | None
    layouts: tuple[SourceTree, ...] = ()  # publish --from: layouts ``build`` wrote


@dataclass(frozen=True)
class TargetOptions:
    """Where the release goes and under which tags."""

    tag: str
    images: tuple[str, ...]
    event: str
    spec: str  # the tags: block, one rule per line
    flavor: str
    registry_timeout: int


@dataclass(frozen=True)
class PromotionOptions:
    """Which tag moves are allowed."""

    allow_backwards: bool
    allow_overwrite: bool
    allow_floating_tags: bool


@dataclass(frozen=True)
class SigningOptions:
    """How the release is signed; the secrets stay secrets (a ``dagger.Secret`` or a ``SecretValue``)."""

    mode: SigningMode
    key: SecretInput | None
    password: SecretInput | None
    oidc_token: SecretInput | None
    oidc_request_url: SecretInput | None
    oidc_request_token: SecretInput | None
    fulcio_url: str
    rekor_url: str
    timestamp_url: str
    trusted_root: str | None
    bundle: bool

    def resolved(self) -> SigningMode:
        """``auto`` decided as far as it can be without reading a key: key mode when one is given."""
        return self.mode.resolve(has_key=self.key is not None)


@dataclass(frozen=True)
class SupplyChainOptions:
    """SBOMs, provenance and the tool images that make them."""

    sbom: tuple[SbomFormat, ...]
    no_sbom: bool
    provenance: bool  # the deprecated --provenance (on by default anyway)
    no_provenance: bool
    tool_images: str | None  # a JSON text naming tool images; None: the door's

    def sbom_formats(self) -> tuple[SbomFormat, ...]:
        return sbom_formats_from_args(list(self.sbom), off=self.no_sbom)

    def with_provenance(self) -> bool:
        return provenance_from_args(self.provenance, off=self.no_provenance)


@dataclass(frozen=True)
class ScanOptions:
    """The Trivy gate."""

    fail_on: str
    trivyignore: str | None  # --trivyignore's text; None: the source's .trivyignore
    off: bool

    def policy(self, ignore: str | None) -> ScanPolicy | None:
        """The gate with the ignore list in force (``ignore``: the text the release reads)."""
        return _scan_policy_from_args(self.fail_on, [ignore] if ignore else [], off=self.off)


@dataclass(frozen=True)
class SmokeOptions:
    """The smoke test's flags (the compose file is read with the source)."""

    port: int | None
    path: str
    cmd: tuple[str, ...]
    timeout: int | None
    compose: str
    service: str
    platforms: str

    def test(self) -> SmokeTest:
        return SmokeTest.from_args(self.port, self.path, list(self.cmd), self.timeout, self.compose, self.service, self.platforms)


@dataclass(frozen=True)
class ReleaseOptions:
    """Everything ``publish`` (and ``plan``, which takes a subset of its flags) was asked."""

    command: str
    build: BuildOptions
    targets: TargetOptions
    promotion: PromotionOptions
    signing: SigningOptions
    supply_chain: SupplyChainOptions
    scan: ScanOptions
    smoke: SmokeOptions
    builders: tuple[str, ...]  # --builder PLATFORM=ENGINE_ADDRESS (the CLI's door)
    settings: Settled  # where each setting came from (plan shows it)


@dataclass(frozen=True)
class BuildRunOptions:
    """``build``: what to build, and who builds it."""

    build: BuildOptions
    runner: str
    settings: Settled


@dataclass(frozen=True)
class RebuildOptions:
    """``rebuild-check``: what was released, and how to build it again."""

    build: BuildOptions
    tag: str
    image: str
    settings: Settled


def build_options(read: Arguments) -> BuildOptions:
    return BuildOptions(
        source=read("source"),
        platforms=tuple(read("platform", ())),
        dockerfile=read("dockerfile", "Dockerfile"),
        target=read("build_target", ""),
        build_args=tuple(read("build_arg", ())),
        secrets=tuple(read("build_secret", ())),
        sha=read("sha", ""),
        source_date_epoch=read("source_date_epoch"),
        layouts=tuple(read("from_", ())),
    )


def release_options_from(command: str, read: Arguments, settings: Settled, builders: Sequence[str] = ()) -> ReleaseOptions:
    """The release's options from its arguments (settled: every setting has its value); a setting
    the command does not declare (``plan`` has no ``--smoke-port``) comes from the file or the default."""
    options = ReleaseOptions(
        command=command,
        build=build_options(read),
        targets=TargetOptions(
            tag=read("tag"),
            images=tuple(read("image", ())),
            event=read("event", "push"),
            spec=read("spec", ""),
            flavor=read("flavor", ""),
            registry_timeout=read("registry_timeout", 30),
        ),
        promotion=PromotionOptions(
            allow_backwards=read("allow_backwards", False),
            allow_overwrite=read("allow_overwrite", False),
            allow_floating_tags=read("allow_floating_tags", False),
        ),
        signing=SigningOptions(
            mode=read("sign", SigningMode.AUTO),
            key=read("key"),
            password=read("cosign_password"),
            oidc_token=read("oidc_token"),
            oidc_request_url=read("oidc_request_url"),
            oidc_request_token=read("oidc_request_token"),
            fulcio_url=read("fulcio_url", ""),
            rekor_url=read("rekor_url", ""),
            timestamp_url=read("timestamp_url", ""),
            trusted_root=read("sigstore_trusted_root"),
            bundle=read("sigstore_bundle", False),
        ),
        supply_chain=SupplyChainOptions(
            sbom=tuple(read("sbom", ())),
            no_sbom=read("no_sbom", False),
            provenance=read("provenance", False),
            no_provenance=read("no_provenance", False),
            tool_images=read("tool_images"),
        ),
        scan=ScanOptions(fail_on=read("scan_fail_on", ""), trivyignore=read("trivyignore"), off=read("no_scan", False)),
        smoke=SmokeOptions(
            port=read("smoke_port"),
            path=read("smoke_path", "/"),
            cmd=tuple(read("smoke_cmd", ())),
            timeout=read("smoke_timeout"),
            compose=read("smoke_compose", ""),
            service=read("smoke_service", ""),
            platforms=read("smoke_platforms", "all"),
        ),
        builders=tuple(builders),
        settings=settings,
    )
    read.done(command)
    return options


async def settled(command: str, given: Mapping[str, Any], keys: tuple[str, ...] | None = None) -> Settled:
    """:func:`settle`, its deprecation warnings said once on stderr."""
    result = await settle(command, given, keys)
    for warning in result.warnings:
        print(f"shipyard: warning: {warning}", file=sys.stderr)
    return result


async def release_options(command: str, given: Mapping[str, Any], builders: Sequence[str] = ()) -> ReleaseOptions:
    """``publish``'s or ``plan``'s options, built once from what the door gave."""
    result = await settled(command, given, KEYS)
    return release_options_from(command, Arguments(result.arguments), result, builders)


async def build_run_options(given: Mapping[str, Any]) -> BuildRunOptions:
    result = await settled("build", given)
    read = Arguments(result.arguments)
    options = BuildRunOptions(build=build_options(read), runner=read("runner", ""), settings=result)
    read.done("build")
    return options


async def rebuild_options(given: Mapping[str, Any]) -> RebuildOptions:
    result = await settled("rebuild_check", given)
    read = Arguments(result.arguments)
    options = RebuildOptions(build=build_options(read), tag=read("tag"), image=read("image", ""), settings=result)
    read.done("rebuild_check")
    return options
