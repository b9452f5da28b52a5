"""The Dagger surface, where every argument is declared once (the ``shipyard`` command is built
from these signatures): thin functions that convert their arguments and run ``commands``."""

# No `from __future__ import annotations` here: dagger-io 0.19 reads each argument's Doc() from
# the evaluated annotation, and string annotations would silently drop every description.
import dataclasses
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast

import dagger
from dagger import DefaultPath, Doc, dag, enum_type, field, function, object_type

from shipyard import __version__, commands
from shipyard.arguments import Argument, Kind, functions
from shipyard.auth import canonical_registry, read_auths
from shipyard.dagger_errors import clear_errors
from shipyard.errors import GateFailed
from shipyard.registries.backends.select import BackendKind
from shipyard.release.config import SbomFormat, SigningMode
from shipyard.release.settings import KEYS as SETTINGS_KEYS
from shipyard.reports.report import OutputFormat, Report, render
from shipyard.source import ModuleSource, refuse_shipyard_readme, refuse_shipyard_tree
from shipyard.steps.tools import RegistryEndpoint, module_endpoints

# Closed choices are enums in `dagger functions`; the pure plan package stays free of dagger.
for _choice in (SigningMode, SbomFormat, BackendKind, OutputFormat):
    enum_type(_choice)

_T = TypeVar("_T")

# One value, not a list: `dagger call` splits list flags at commas and keeps only the first line.
SPEC_DOC = "docker/metadata-action tags: block, pasted verbatim as one value (one rule per line); default: the release table"
PROVENANCE_DOC = "Deprecated (provenance is on by default; --no-provenance turns it off): accepted until 0.3 with a warning"
FLAVOR_DOC = "docker/metadata-action flavor: block as one value (one line each: latest=auto|true|false, prefix=, suffix=)"

# Arguments several functions take, each declared once: an alias of ``Annotated`` is the same
# annotation to dagger-io and to the CLI (arguments.py).
Dockerfile = Annotated[str | None, Doc("Path of the Dockerfile, relative to the source (default Dockerfile)")]
BuildTarget = Annotated[str | None, Doc("The Dockerfile stage to build")]
BuildArgs = Annotated[list[str] | None, Doc("Build arguments, NAME=VALUE (repeatable)")]
BuildSecrets = Annotated[
    list[dagger.Secret] | None, Doc("Build secrets, mounted at /run/secrets/<name> for RUN --mount=type=secret (repeatable)")
]


def construct(cls: type[_T], **values: Any) -> _T:
    """An instance of an ``@object_type`` class. dagger's ``object_type`` is a bound method whose
    ``dataclass_transform`` mypy does not follow, so a direct call reads as one without parameters."""
    return cast(Callable[..., _T], cls)(**values)


@object_type
class RegistryAuth:
    """Credentials for one registry (or its API), kept as a Secret end to end."""

    address: str = field()
    username: str = field()
    secret: dagger.Secret  # private state: never exposed as an API field


_F = TypeVar("_F", bound=Callable[..., Any])


def uncached_function(fn: _F) -> _F:
    """``@function(cache="never")``: for functions that talk to registries, whose state the
    engine's cache cannot see (a cached ``publish`` would return a stale result and push nothing).
    dagger-io 0.19's overloads of ``function`` omit the ``cache`` keyword its implementation takes."""
    decorate: Callable[[_F], _F] = function(cache="never")  # type: ignore[call-overload]
    return decorate(fn)


async def _given(function: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """A function's own arguments (its ``locals()`` on entry) as the commands take them
    (commands/__init__.py), converted by their declared kind (arguments.py): files read, each
    build secret named by its id, directories as sources. The door's own arguments stay here."""
    given: dict[str, Any] = {}
    for arg in functions(Shipyard)[function]:
        if arg.name in commands.DOOR_ARGUMENTS:
            continue
        given[arg.name] = await _module_value(arg, values[arg.name])
    return given


async def _module_value(arg: Argument, value: Any) -> Any:
    if value is None and arg.name in SETTINGS_KEYS:  # not given: the settings file or the default decides
        return None
    if arg.repeatable:
        items = list(value or [])
        if arg.kind is Kind.SECRET:  # ``env:NPM_TOKEN`` mounts as ``/run/secrets/NPM_TOKEN``
            return [(await secret.name(), secret) for secret in items]
        if arg.kind is Kind.DIRECTORY:
            return [ModuleSource(directory) for directory in items]
        return items
    if arg.kind is Kind.FILE:
        return await value.contents() if value is not None else None
    if arg.kind is Kind.DIRECTORY:
        return ModuleSource(value) if value is not None else None
    return value


def finish(report: Report, fmt: OutputFormat = OutputFormat.TEXT) -> str:
    """The report as the function's result; a report that is not ok fails ``dagger call`` (non-zero
    exit, the report as the message), as the CLI exits 3."""
    text = render(report, fmt)
    if not report.ok:
        raise GateFailed(report.render_text())
    return text


@object_type
class Shipyard:
    """Shipyard releases container images: publish (build, push by digest, tags last), build, verify, tags, plan, cleanup, sync-readme."""

    auths: list[RegistryAuth] = dataclasses.field(default_factory=list)

    @function
    @clear_errors
    def with_registry_auth(
        self,
        address: Annotated[str, Doc("Registry host, e.g. ghcr.io, docker.io or localhost:5000")],
        username: Annotated[str, Doc("User name (for GHCR, the GitHub user or any non-empty name)")],
        secret: Annotated[dagger.Secret, Doc("Token or password, e.g. env:GHCR_TOKEN")],
    ) -> "Shipyard":
        """Add credentials for a registry or its API; chain it before cleanup or sync-readme."""
        address = canonical_registry(address)
        kept = [a for a in self.auths if a.address != address]
        auths = [*kept, construct(RegistryAuth, address=address, username=username, secret=secret)]
        updated: Shipyard = dataclasses.replace(cast(Any, self), auths=auths)
        return updated

    async def _door(self, registry: list[dagger.Service] | None = None, *, engine: bool = False, secrets: bool = True) -> commands.Door:
        """Module mode's door: credentials from with-registry-auth, loopback registries from Services.
        Without ``secrets`` (a dry run) only the registries are known and no secret is read."""
        endpoints = await module_endpoints(registry or [])
        scratch = Path(tempfile.mkdtemp(prefix="shipyard-", dir=Path.cwd())) if engine else None
        return commands.Door(
            credentials=await read_auths((a.address, a.username, a.secret) for a in self.auths) if secrets else {},
            declared_registries=frozenset(a.address for a in self.auths),
            endpoint=lambda r: endpoints.get(r) or RegistryEndpoint(registry=r, host=r),
            workdir=scratch,
            out=scratch / "dist" if scratch else None,
            local_file=lambda path: dag.current_module().workdir_file(str(path.relative_to(Path.cwd()))),
            local_directory=lambda path: dag.current_module().workdir(str(path.relative_to(Path.cwd()))),
        )

    @function
    def version(self) -> str:
        """The version of Shipyard (the tag to pin is v<version>), as `shipyard --version` prints it."""
        return __version__

    @uncached_function
    @clear_errors
    async def cleanup(
        self,
        image: Annotated[str, Doc("Image (repository) to clean, e.g. ghcr.io/acme/app")] = "",
        repository: Annotated[str, Doc("Deprecated (until 0.3): the old name of --image")] = "",
        keep_untagged: Annotated[int | None, Doc("Keep the newest N untagged digests (others are deleted)")] = None,
        keep_prereleases: Annotated[int | None, Doc("Keep the newest N pre-release tags (others are deleted)")] = None,
        older_than: Annotated[str, Doc("Delete tags older than this, e.g. 90d, 12h, 2w")] = "",
        protect: Annotated[list[str] | None, Doc("Tags never to delete (added to latest, stable and release versions)")] = None,
        protect_regex: Annotated[list[str] | None, Doc("Regular expressions of tags never to delete")] = None,
        no_default_protection: Annotated[bool, Doc("Do not protect latest, stable and release versions")] = False,
        only_untagged: Annotated[bool, Doc("Consider untagged digests only; never touch tags")] = False,
        backend: Annotated[BackendKind, Doc("API to use: auto (by registry), oci, ghcr or dockerhub")] = BackendKind.AUTO,
        api_url: Annotated[str, Doc("Override the GHCR or Docker Hub API address")] = "",
        apply: Annotated[bool, Doc("Delete for real; without it this is a dry run that only prints the plan")] = False,
        format: Annotated[OutputFormat, Doc("Report format: text or json")] = OutputFormat.TEXT,
    ) -> str:
        """Delete old images, signatures and attestations by policy; a dry run unless --apply."""
        report = await commands.run("cleanup", await _given("cleanup", locals()), await self._door())
        return finish(report, format)

    @uncached_function
    @clear_errors
    async def publish(
        self,
        tag: Annotated[str, Doc("Version to release, e.g. v1.2.3")],
        source: Annotated[
            dagger.Directory,
            DefaultPath("."),
            Doc("Directory to build (default: the current directory; with dagger call -m, pass --source .)"),
        ],
        from_: Annotated[
            list[dagger.Directory] | None,
            Doc("Release the platform images that build wrote there instead of building (repeatable: one per runner of a CI matrix)"),
        ] = None,
        image: Annotated[
            list[str] | None, Doc("Image (repository) to publish to (repeatable); append ',optional' to skip it without credentials")
        ] = None,
        target: Annotated[list[str] | None, Doc("Deprecated (until 0.3): the old name of --image")] = None,
        platform: Annotated[list[str] | None, Doc("Platforms to build (default linux/amd64,linux/arm64)")] = None,
        registry: Annotated[
            list[dagger.Service] | None,
            Doc("Registries (and a private Sigstore's services) on your machine's loopback, e.g. tcp://localhost:5000 (matched by port)"),
        ] = None,
        dockerfile: Dockerfile = None,
        build_target: BuildTarget = None,
        build_arg: BuildArgs = None,
        build_secret: BuildSecrets = None,
        sha: Annotated[str, Doc("Full commit SHA of the source (for sha-<7> tags and labels)")] = "",
        event: Annotated[str, Doc("CI event: push, pull_request, workflow_dispatch, release")] = "push",
        spec: Annotated[str | None, Doc(SPEC_DOC)] = None,
        flavor: Annotated[str | None, Doc(FLAVOR_DOC)] = None,
        source_date_epoch: Annotated[
            int | None, Doc("Timestamp for reproducible images (default: $SOURCE_DATE_EPOCH in the CLI, else the commit time, else 0)")
        ] = None,
        allow_backwards: Annotated[bool | None, Doc("Move latest/major/minor tags even to an older release")] = None,
        allow_overwrite: Annotated[
            bool | None, Doc("Move a version tag (1.2.3) that already names other content (release tags are immutable without it)")
        ] = None,
        allow_floating_tags: Annotated[
            bool, Doc("Let a custom (non-semver) tag rule write X, X.Y or latest, the tags semver releases move")
        ] = False,
        registry_timeout: Annotated[
            int | None, Doc("Seconds one registry request may take to connect, send or answer before it is retried (default 30)")
        ] = None,
        sign: Annotated[
            SigningMode | None,
            Doc("Sign the index and every platform manifest in every target before tags move (auto: when a key is given)"),
        ] = None,
        key: Annotated[dagger.Secret | None, Doc("The cosign private key (with --sign key), e.g. file:cosign.key")] = None,
        cosign_key: Annotated[dagger.Secret | None, Doc("Deprecated (until 0.3): the old name of --key")] = None,
        cosign_password: Annotated[dagger.Secret | None, Doc("Password of the cosign key, e.g. env:COSIGN_PASSWORD")] = None,
        oidc_token: Annotated[dagger.Secret | None, Doc("Keyless signing: an OIDC identity token, e.g. env:SIGSTORE_ID_TOKEN")] = None,
        oidc_request_url: Annotated[
            dagger.Secret | None, Doc("Keyless signing in GitHub Actions: env:ACTIONS_ID_TOKEN_REQUEST_URL (the runner issues the token)")
        ] = None,
        oidc_request_token: Annotated[
            dagger.Secret | None, Doc("Keyless signing in GitHub Actions: env:ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        ] = None,
        fulcio_url: Annotated[str | None, Doc("Keyless signing: the Fulcio certificate authority (default the public one)")] = None,
        rekor_url: Annotated[
            str | None, Doc("The Rekor transparency log (keyless: default the public one; key mode: upload to it)")
        ] = None,
        timestamp_url: Annotated[
            str | None,
            Doc("Keyless signing: also timestamp signatures with this RFC 3161 authority, e.g. https://tsa.example/api/v1/timestamp"),
        ] = None,
        sigstore_trusted_root: Annotated[
            dagger.File | None, Doc("A private Sigstore's trusted root (cosign trusted-root create), e.g. trusted_root.json")
        ] = None,
        sigstore_bundle: Annotated[
            bool | None, Doc("Keyless: also store signatures and attestations as Sigstore bundles in OCI 1.1 referrers")
        ] = None,
        scan_fail_on: Annotated[str | None, Doc("Trivy gate on every platform (default CRITICAL,HIGH); empty: no scan")] = None,
        trivyignore: Annotated[
            dagger.File | None, Doc("Vulnerability ids the gate accepts (.trivyignore format; default: the source's .trivyignore)")
        ] = None,
        sbom: Annotated[
            list[SbomFormat] | None, Doc("SBOM formats per platform (default spdx-json), attested when signing: spdx-json, cyclonedx-json")
        ] = None,
        provenance: Annotated[bool, Doc(PROVENANCE_DOC)] = False,
        tool_images: Annotated[dagger.File | None, Doc("JSON file naming tool images (mirrors, air-gapped use)")] = None,
        smoke_port: Annotated[
            int | None, Doc("Smoke test: GET this port on localhost inside each image's container (replaces a compose healthcheck)")
        ] = None,
        smoke_path: Annotated[str | None, Doc("Smoke test: the path that must answer HTTP 2xx, e.g. /health (default /)")] = None,
        smoke_cmd: Annotated[list[str] | None, Doc("Smoke test: arguments replacing the image's CMD (the entrypoint stays)")] = None,
        smoke_timeout: Annotated[
            int | None, Doc("Smoke test: seconds each platform has to become healthy (default 60, 180 under QEMU)")
        ] = None,
        smoke_compose: Annotated[
            str | None,
            Doc("Smoke test: compose file in the source whose service's healthcheck runs before any tag moves (default: compose.yaml)"),
        ] = None,
        smoke_service: Annotated[str | None, Doc("Smoke test: the compose service (default: the one whose build is this image)")] = None,
        smoke_platforms: Annotated[
            str | None, Doc("Smoke test: all (default), native, none, or platforms, e.g. linux/amd64,linux/arm64")
        ] = None,
        no_sbom: Annotated[bool | None, Doc("No SBOMs (on by default)")] = None,
        no_provenance: Annotated[bool | None, Doc("No SLSA provenance (on by default)")] = None,
        no_scan: Annotated[bool | None, Doc("No Trivy scan and no scan gate (on by default, failing on CRITICAL,HIGH)")] = None,
        keep_outputs: Annotated[
            bool,
            Doc("Return dist/ also when the release fails (report.json says why, SARIF for upload); fail the job after with check-report"),
        ] = False,
    ) -> dagger.Directory:
        """Build every platform, push the index by digest, move the tags last, verify; returns dist/ (report, release notes, OCI layout)."""
        given = await _given("publish", locals())
        await refuse_shipyard_tree(source, flag="--source")
        door = await self._door(registry, engine=True)
        report = await commands.run("publish", given, door)
        if not keep_outputs:
            finish(report)
        assert door.out is not None
        return dag.current_module().workdir(str(door.out.relative_to(Path.cwd())))

    @uncached_function
    @clear_errors
    async def build(
        self,
        source: Annotated[
            dagger.Directory,
            DefaultPath("."),
            Doc("Directory to build (default: the current directory; with dagger call -m, pass --source .)"),
        ],
        platform: Annotated[
            list[str] | None, Doc("Platforms to build here, e.g. this runner's own (default linux/amd64,linux/arm64)")
        ] = None,
        dockerfile: Dockerfile = None,
        build_target: BuildTarget = None,
        build_arg: BuildArgs = None,
        build_secret: BuildSecrets = None,
        sha: Annotated[str, Doc("Full commit SHA of the source (default: HEAD of the source)")] = "",
        source_date_epoch: Annotated[
            int | None, Doc("Timestamp for reproducible images (default: $SOURCE_DATE_EPOCH in the CLI, else the commit time, else 0)")
        ] = None,
        runner: Annotated[str, Doc("Who builds, recorded in the layout and the release's provenance, e.g. the CI runner's label")] = "",
    ) -> dagger.Directory:
        """Build platforms as publish would and return them as an OCI layout with a record (shipyard-build.json); nothing is pushed."""
        given = await _given("build", locals())
        await refuse_shipyard_tree(source, flag="--source")
        door = await self._door(engine=True)
        report = await commands.run("build", given, door)
        finish(report)
        assert door.out is not None
        return dag.current_module().workdir(str(door.out.relative_to(Path.cwd())))

    @uncached_function
    @clear_errors
    async def rebuild_check(
        self,
        tag: Annotated[str, Doc("The version that was released, e.g. v1.2.3")],
        source: Annotated[
            dagger.Directory,
            DefaultPath("."),
            Doc("Directory to build (default: the current directory; with dagger call -m, pass --source .)"),
        ],
        image: Annotated[str, Doc("The published release to compare with, e.g. ghcr.io/acme/app:1.2.3")] = "",
        against: Annotated[str, Doc("Deprecated (until 0.3): the old name of --image")] = "",
        platform: Annotated[list[str] | None, Doc("Platforms to build (default linux/amd64,linux/arm64)")] = None,
        registry: Annotated[list[dagger.Service] | None, Doc("Registries on your machine's loopback, e.g. tcp://localhost:5000")] = None,
        dockerfile: Dockerfile = None,
        build_target: BuildTarget = None,
        build_arg: BuildArgs = None,
        build_secret: Annotated[
            list[dagger.Secret] | None, Doc("The release's build secrets, mounted at /run/secrets/<name> (repeatable)")
        ] = None,
        sha: Annotated[str, Doc("Full commit SHA the release was built from")] = "",
        source_date_epoch: Annotated[int | None, Doc("The release's timestamp (SOURCE_DATE_EPOCH)")] = None,
        format: Annotated[OutputFormat, Doc("Report format: text or json")] = OutputFormat.TEXT,
    ) -> str:
        """Rebuild a release from source (nothing is pushed) and name any platform whose digest differs from the published one."""
        given = await _given("rebuild_check", locals())
        await refuse_shipyard_tree(source, flag="--source")
        report = await commands.run("rebuild_check", given, await self._door(registry, engine=True))
        return finish(report, format)

    @function
    @clear_errors
    async def tags(
        self,
        source: Annotated[
            dagger.Directory,
            DefaultPath("."),
            Doc("Git checkout: its HEAD is the default --sha and its commit time the clock of {{date}} (default: the current directory)"),
        ],
        ref: Annotated[str, Doc("Git ref that triggered the release, e.g. refs/tags/v1.2.3 or refs/heads/main; empty: no tags")] = "",
        sha: Annotated[str, Doc("Full 40-character commit SHA (for sha-<7> tags)")] = "",
        event: Annotated[str, Doc("CI event: push, pull_request, workflow_dispatch, release")] = "push",
        default_branch: Annotated[str, Doc("The repository's default branch (for {{is_default_branch}} and type=edge)")] = "main",
        spec: Annotated[str, Doc(SPEC_DOC)] = "",
        flavor: Annotated[str, Doc(FLAVOR_DOC)] = "",
        base_ref: Annotated[str, Doc("Base branch of a pull request, or the branch a tag was pushed from (for {{base_ref}})")] = "",
        source_date_epoch: Annotated[int | None, Doc("Clock of {{date}} and {{commit_date}}, in seconds (never the wall clock)")] = None,
        format: Annotated[OutputFormat, Doc('text: one tag a line; json: {"version", "tags", "latest"}')] = OutputFormat.TEXT,
    ) -> str:
        """Compute the image tags for a Git ref, exactly as docker/metadata-action would."""
        result = await commands.run("tags", await _given("tags", locals()), await self._door())
        return finish(result, format)

    @function
    @clear_errors
    async def plan(
        self,
        tag: Annotated[str, Doc("Version to release, e.g. v1.2.3")],
        source: Annotated[
            dagger.Directory,
            DefaultPath("."),
            Doc(
                "Git checkout: its shipyard.toml, commit, commit time and origin, its Dockerfile's stages (default: the current directory)"
            ),
        ],
        image: Annotated[
            list[str] | None, Doc("Image (repository) to publish to (repeatable); append ',optional' to skip it without credentials")
        ] = None,
        target: Annotated[list[str] | None, Doc("Deprecated (until 0.3): the old name of --image")] = None,
        platform: Annotated[list[str] | None, Doc("Platforms to build (default linux/amd64,linux/arm64)")] = None,
        sha: Annotated[str, Doc("Full commit SHA of the source (default: HEAD of --source)")] = "",
        event: Annotated[str, Doc("CI event: push, pull_request, workflow_dispatch, release")] = "push",
        spec: Annotated[str | None, Doc(SPEC_DOC)] = None,
        flavor: Annotated[str | None, Doc(FLAVOR_DOC)] = None,
        sign: Annotated[
            SigningMode | None, Doc("How to sign: none, key or keyless (auto, the default, plans none: plan reads no key)")
        ] = None,
        sbom: Annotated[list[SbomFormat] | None, Doc("SBOM formats per platform (default spdx-json): spdx-json, cyclonedx-json")] = None,
        provenance: Annotated[bool, Doc(PROVENANCE_DOC)] = False,
        scan_fail_on: Annotated[str | None, Doc("Severities that fail the scan gate (default CRITICAL,HIGH); empty: no scan")] = None,
        no_sbom: Annotated[bool | None, Doc("No SBOMs (on by default)")] = None,
        no_provenance: Annotated[bool | None, Doc("No SLSA provenance (on by default)")] = None,
        no_scan: Annotated[bool | None, Doc("No Trivy scan and no scan gate (on by default, failing on CRITICAL,HIGH)")] = None,
        allow_floating_tags: Annotated[
            bool, Doc("Let a custom (non-semver) tag rule write X, X.Y or latest, the tags semver releases move")
        ] = False,
        source_date_epoch: Annotated[int | None, Doc("Timestamp for reproducible images (default: commit time)")] = None,
        dockerfile: Dockerfile = None,
        format: Annotated[OutputFormat, Doc("Plan format: text or json")] = OutputFormat.TEXT,
    ) -> str:
        """Print the full release plan (a dry run): tags, targets, platforms and every step, touching nothing."""
        release_plan = await commands.run("plan", await _given("plan", locals()), await self._door(secrets=False))
        return finish(release_plan, format)

    @uncached_function
    @clear_errors
    async def verify(
        self,
        image: Annotated[str, Doc("The release to verify, IMAGE[:tag|@digest], e.g. ghcr.io/acme/app:1.2.3")] = "",
        ref: Annotated[str, Doc("Deprecated (until 0.3): the old name of --image")] = "",
        key: Annotated[dagger.File | None, Doc("The cosign public key the release was signed with, e.g. cosign.pub")] = None,
        certificate_identity: Annotated[str, Doc("Keyless: the signer's identity (e.g. the release workflow's URL at the tag)")] = "",
        certificate_identity_regexp: Annotated[str, Doc("Keyless: a regular expression the signer's identity must match")] = "",
        certificate_oidc_issuer: Annotated[str, Doc("Keyless: the OIDC issuer, e.g. https://token.actions.githubusercontent.com")] = "",
        certificate_oidc_issuer_regexp: Annotated[str, Doc("Keyless: a regular expression the OIDC issuer must match")] = "",
        rekor_url: Annotated[str, Doc("The transparency log to check (keyless: default the public one; with a key: none)")] = "",
        sigstore_trusted_root: Annotated[
            dagger.File | None, Doc("Keyless: a private Sigstore's trusted root (cosign trusted-root create), e.g. trusted_root.json")
        ] = None,
        attestation: Annotated[
            list[str] | None,
            Doc("Attestations the release must carry: spdx-json, cyclonedx-json, provenance (default spdx-json,provenance; none)"),
        ] = None,
        scan_fail_on: Annotated[str, Doc("Re-scan every platform and fail on these severities; empty: no re-scan")] = "CRITICAL,HIGH",
        trivyignore: Annotated[dagger.File | None, Doc("Vulnerability ids the re-scan accepts (.trivyignore format)")] = None,
        registry: Annotated[
            list[dagger.Service] | None,
            Doc("Registries (and a private Sigstore's services) on your machine's loopback, e.g. tcp://localhost:5000"),
        ] = None,
        tool_images: Annotated[dagger.File | None, Doc("JSON file naming tool images (mirrors, air-gapped use)")] = None,
        format: Annotated[OutputFormat, Doc("Report format: text or json")] = OutputFormat.TEXT,
    ) -> str:
        """Verify a published release without Docker: signatures on the index and every platform, attestations, SBOMs, re-scan."""
        report = await commands.run("verify", await _given("verify", locals()), await self._door(registry, engine=True))
        return finish(report, format)

    @function
    @clear_errors
    async def check_report(
        self,
        report: Annotated[dagger.File, Doc("The report.json a publish wrote, e.g. dist/report.json")],
    ) -> str:
        """Fail when a release's report.json says it failed: the last step after publish --keep-outputs handed over dist/."""
        return finish(await commands.run("check_report", await _given("check_report", locals()), await self._door(secrets=False)))

    @uncached_function
    @clear_errors
    async def sync_readme(
        self,
        readme: Annotated[
            dagger.File,
            DefaultPath("README.md"),
            Doc("Markdown file to publish as the overview (at most 25,000 bytes; default README.md, but pass it with dagger call -m)"),
        ],
        image: Annotated[str, Doc("Docker Hub image (repository), e.g. docker.io/acme/app")] = "",
        repository: Annotated[str, Doc("Deprecated (until 0.3): the old name of --image")] = "",
        short_description: Annotated[str, Doc("Short description (at most 100 characters); empty leaves it as is")] = "",
        api_url: Annotated[str, Doc("Override the Docker Hub API address")] = "",
    ) -> str:
        """Push a README as the Docker Hub repository overview; needs with-registry-auth for docker.io."""
        given = await _given("sync_readme", locals())
        await refuse_shipyard_readme(readme)
        report = await commands.run("sync_readme", given, await self._door())
        return finish(report)
