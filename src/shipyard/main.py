"""The Dagger surface: thin functions that turn arguments into a plan (and, later, run steps)."""

# No `from __future__ import annotations` here: dagger-io 0.19 reads each argument's Doc() from
# the evaluated annotation, and string annotations would silently drop every description.
import dataclasses
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import dagger
from dagger import DefaultPath, Doc, dag, enum_type, field, function, object_type

from shipyard.commands import SourceBuild, tool_images_from_text
from shipyard.commands import publish as publish_release
from shipyard.commands import rebuild_check as check_rebuild
from shipyard.dagger_errors import clear_errors
from shipyard.plan.config import (
    DEFAULT_SCAN_FAIL_ON,
    SbomFormat,
    ScanPolicy,
    SigningMode,
    SmokeTest,
    ToolImages,
    provenance_from_args,
    sbom_formats_from_args,
    scan_policy_from_args,
)
from shipyard.plan.errors import GateFailed
from shipyard.plan.plan import build_release_plan
from shipyard.plan.refs import DOCKER_HUB, parse_registry, parse_repository
from shipyard.plan.report import OutputFormat
from shipyard.plan.retention import policy_from_args
from shipyard.plan.tags import parse_flavor, parse_tag_specs, tags_for
from shipyard.registries.select import BackendKind, cleanup_repository
from shipyard.secrets import Credentials, SecretValue
from shipyard.steps.readme import sync_readme as push_readme
from shipyard.steps.sign import SigningKey
from shipyard.steps.tools import RegistryEndpoint, module_endpoints

# Closed choices are enums in `dagger functions`; the pure plan package stays free of dagger.
for _choice in (SigningMode, SbomFormat, BackendKind, OutputFormat):
    enum_type(_choice)


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


async def _scan_policy(fail_on: str, ignore_file: dagger.File | None, off: bool) -> ScanPolicy | None:
    return scan_policy_from_args(fail_on, [await ignore_file.contents()] if ignore_file else [], off=off)


@object_type
class Shipyard:
    """Shipyard releases container images: publish (build, push by digest, tags last), tags, plan, cleanup, sync-readme."""

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
        address = parse_registry(address, what="--address")
        kept = [a for a in self.auths if a.address != address]
        return dataclasses.replace(self, auths=[*kept, RegistryAuth(address=address, username=username, secret=secret)])

    async def _credentials(self, registry: str) -> Credentials | None:
        aliases = {registry} | ({DOCKER_HUB, "index.docker.io", "hub.docker.com"} if registry == DOCKER_HUB else set())
        for auth in self.auths:
            if auth.address in aliases:
                return Credentials(auth.username, SecretValue(await auth.secret.plaintext()))
        return None

    @uncached_function
    @clear_errors
    async def cleanup(
        self,
        repository: Annotated[str, Doc("Repository to clean, e.g. ghcr.io/acme/app")],
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
        policy = policy_from_args(
            keep_untagged=keep_untagged,
            keep_prereleases=keep_prereleases,
            older_than=older_than,
            protect=protect,
            protect_regex=protect_regex,
            only_untagged=only_untagged,
            default_protection=not no_default_protection,
        )
        credentials = await self._credentials(parse_repository(repository, what="--repository").registry)
        report = await cleanup_repository(repository, policy, kind=backend, credentials=credentials, api_url=api_url, apply=apply)
        return report.dumps() if format is OutputFormat.JSON else report.render_text()

    async def _all_credentials(self) -> dict[str, Credentials]:
        return {a.address: Credentials(a.username, SecretValue(await a.secret.plaintext())) for a in self.auths}

    @uncached_function
    @clear_errors
    async def publish(
        self,
        tag: Annotated[str, Doc("Version to release, e.g. v1.2.3")],
        source: Annotated[dagger.Directory, DefaultPath("."), Doc("Directory to build (default: the module's context)")],
        target: Annotated[
            list[str] | None, Doc("Repository to publish to (repeatable); append ',optional' to skip it without credentials")
        ] = None,
        platform: Annotated[list[str] | None, Doc("Platforms to build (default linux/amd64,linux/arm64)")] = None,
        registry: Annotated[
            list[dagger.Service] | None,
            Doc("Registries on your machine's loopback, e.g. tcp://localhost:5000 (matched to targets by port)"),
        ] = None,
        dockerfile: Annotated[str, Doc("Path of the Dockerfile, relative to the source")] = "Dockerfile",
        build_target: Annotated[str, Doc("The Dockerfile stage to build")] = "",
        build_arg: Annotated[list[str] | None, Doc("Build arguments, NAME=VALUE (repeatable)")] = None,
        build_secret: Annotated[
            list[dagger.Secret] | None, Doc("Build secrets, mounted at /run/secrets/<name> for RUN --mount=type=secret (repeatable)")
        ] = None,
        sha: Annotated[str, Doc("Full commit SHA of the source (for sha-<7> tags and labels)")] = "",
        event: Annotated[str, Doc("CI event: push, pull_request, workflow_dispatch, release")] = "push",
        spec: Annotated[list[str] | None, Doc("docker/metadata-action tags: lines")] = None,
        flavor: Annotated[list[str] | None, Doc("docker/metadata-action flavor: lines")] = None,
        source_date_epoch: Annotated[int | None, Doc("Timestamp for reproducible images (default: 0, or pass the commit time)")] = None,
        allow_backwards: Annotated[bool, Doc("Move latest/major/minor tags even to an older release")] = False,
        sign: Annotated[
            SigningMode, Doc("Sign the index and every platform manifest in every target before tags move (auto: when a key is given)")
        ] = SigningMode.AUTO,
        cosign_key: Annotated[dagger.Secret | None, Doc("cosign private key (with --sign key), e.g. file:cosign.key")] = None,
        cosign_password: Annotated[dagger.Secret | None, Doc("Password of the cosign key, e.g. env:COSIGN_PASSWORD")] = None,
        scan_fail_on: Annotated[str, Doc("Trivy gate on every platform (default CRITICAL,HIGH); empty: no scan")] = DEFAULT_SCAN_FAIL_ON,
        trivyignore: Annotated[
            dagger.File | None, Doc("Vulnerability ids the gate accepts (.trivyignore format; default: the source's .trivyignore)")
        ] = None,
        sbom: Annotated[
            list[SbomFormat] | None, Doc("SBOM formats per platform (default spdx-json), attested when signing: spdx-json, cyclonedx-json")
        ] = None,
        provenance: Annotated[bool, Doc("SLSA v1 provenance, attested to the index when signing (on by default)")] = False,
        tool_images: Annotated[dagger.File | None, Doc("JSON file naming tool images (mirrors, air-gapped use)")] = None,
        smoke_port: Annotated[
            int | None, Doc("Smoke test: run the native platform's image and GET this port before any tag moves (off without it)")
        ] = None,
        smoke_path: Annotated[str, Doc("Smoke test: the path that must answer HTTP 2xx, e.g. /health")] = "/",
        smoke_cmd: Annotated[list[str] | None, Doc("Smoke test: arguments replacing the image's CMD (the entrypoint stays)")] = None,
        smoke_timeout: Annotated[int, Doc("Smoke test: seconds the image has to answer 2xx")] = 60,
        no_sbom: Annotated[bool, Doc("No SBOMs (on by default)")] = False,
        no_provenance: Annotated[bool, Doc("No SLSA provenance (on by default)")] = False,
        no_scan: Annotated[bool, Doc("No Trivy scan and no scan gate (on by default, failing on CRITICAL,HIGH)")] = False,
    ) -> dagger.Directory:
        """Build every platform, push the index by digest, move the tags last, verify; returns dist/ (report, release notes, OCI layout)."""
        tools = tool_images_from_text(await tool_images.contents(), "tool-images") if tool_images else ToolImages()
        smoke = SmokeTest.from_args(smoke_port, smoke_path, smoke_cmd, smoke_timeout)
        endpoints = await module_endpoints(registry or [])
        scratch = Path(tempfile.mkdtemp(prefix="shipyard-", dir=Path.cwd()))
        build = SourceBuild(
            source=source,
            dockerfile=dockerfile,
            target=build_target,
            build_args=build_arg or [],
            secrets=build_secret or [],
            sha=sha,
            source_date_epoch=source_date_epoch,
        )
        report = await publish_release(
            build,
            tag=tag,
            targets=target or [],
            platforms=platform or [],
            credentials=await self._all_credentials(),
            endpoint=lambda r: endpoints.get(r) or RegistryEndpoint(registry=r, host=r),
            workdir=scratch,
            tools=tools,
            event=event,
            spec=spec or [],
            flavor=flavor or [],
            allow_backwards=allow_backwards,
            out=scratch / "dist",
            signing=sign,
            signing_key=SigningKey(cosign_key, cosign_password) if cosign_key else None,
            sbom_formats=sbom_formats_from_args(sbom, off=no_sbom),
            scan=await _scan_policy(scan_fail_on, trivyignore, no_scan),
            provenance=provenance_from_args(provenance, off=no_provenance),
            smoke=smoke,
        )
        if not report.ok:
            raise GateFailed(report.render_text())
        return dag.current_module().workdir(str((scratch / "dist").relative_to(Path.cwd())))

    @uncached_function
    @clear_errors
    async def rebuild_check(
        self,
        tag: Annotated[str, Doc("The version that was released, e.g. v1.2.3")],
        against: Annotated[str, Doc("The published release to compare with, e.g. ghcr.io/acme/app:1.2.3")],
        source: Annotated[dagger.Directory, DefaultPath("."), Doc("Directory to build (default: the module's context)")],
        platform: Annotated[list[str] | None, Doc("Platforms to build (default linux/amd64,linux/arm64)")] = None,
        registry: Annotated[list[dagger.Service] | None, Doc("Registries on your machine's loopback, e.g. tcp://localhost:5000")] = None,
        dockerfile: Annotated[str, Doc("Path of the Dockerfile, relative to the source")] = "Dockerfile",
        build_target: Annotated[str, Doc("The Dockerfile stage to build")] = "",
        build_arg: Annotated[list[str] | None, Doc("Build arguments, NAME=VALUE (repeatable)")] = None,
        sha: Annotated[str, Doc("Full commit SHA the release was built from")] = "",
        source_date_epoch: Annotated[int | None, Doc("The release's timestamp (SOURCE_DATE_EPOCH)")] = None,
        format: Annotated[OutputFormat, Doc("Report format: text or json")] = OutputFormat.TEXT,
    ) -> str:
        """Rebuild a release from source (nothing is pushed) and name any platform whose digest differs from the published one."""
        endpoints = await module_endpoints(registry or [])
        build = SourceBuild(
            source=source,
            dockerfile=dockerfile,
            target=build_target,
            build_args=build_arg or [],
            sha=sha,
            source_date_epoch=source_date_epoch,
        )
        report = await check_rebuild(
            build,
            tag=tag,
            against=against,
            platforms=platform or [],
            credentials=await self._all_credentials(),
            endpoint=lambda r: endpoints.get(r) or RegistryEndpoint(registry=r, host=r),
            workdir=Path(tempfile.mkdtemp(prefix="shipyard-", dir=Path.cwd())),
        )
        if not report.ok:
            raise GateFailed(report.render_text())
        return report.dumps() if format is OutputFormat.JSON else report.render_text()

    @function
    @clear_errors
    def tags(
        self,
        ref: Annotated[str, Doc("Git ref that triggered the release, e.g. refs/tags/v1.2.3 or refs/heads/main; empty: no tags")] = "",
        sha: Annotated[str, Doc("Full 40-character commit SHA (for sha-<7> tags)")] = "",
        event: Annotated[str, Doc("CI event: push, pull_request, workflow_dispatch, release")] = "push",
        default_branch: Annotated[str, Doc("The repository's default branch (for {{is_default_branch}} and type=edge)")] = "main",
        spec: Annotated[list[str] | None, Doc("docker/metadata-action tags: lines, pasted verbatim; default: the release table")] = None,
        flavor: Annotated[list[str] | None, Doc("docker/metadata-action flavor: lines (latest=auto|true|false, prefix=, suffix=)")] = None,
        base_ref: Annotated[str, Doc("Base branch of a pull request, or the branch a tag was pushed from (for {{base_ref}})")] = "",
        source_date_epoch: Annotated[int | None, Doc("Clock of {{date}} and {{commit_date}}, in seconds (never the wall clock)")] = None,
        format: Annotated[OutputFormat, Doc('text: one tag a line; json: {"version", "tags", "latest"}')] = OutputFormat.TEXT,
    ) -> str:
        """Compute the image tags for a Git ref, exactly as docker/metadata-action would."""
        result = tags_for(
            ref=ref,
            sha=sha,
            event=event,
            default_branch=default_branch,
            base_ref=base_ref,
            specs=spec,
            flavor=flavor,
            source_date_epoch=source_date_epoch,
        )
        return result.render(as_json=format is OutputFormat.JSON)

    @function
    @clear_errors
    def plan(
        self,
        tag: Annotated[str, Doc("Version to release, e.g. v1.2.3")],
        target: Annotated[
            list[str] | None, Doc("Repository to publish to (repeatable); append ',optional' to skip it without credentials")
        ] = None,
        platform: Annotated[list[str] | None, Doc("Platforms to build (default linux/amd64,linux/arm64)")] = None,
        sha: Annotated[str, Doc("Full commit SHA of the source")] = "",
        spec: Annotated[list[str] | None, Doc("docker/metadata-action tags: lines")] = None,
        flavor: Annotated[list[str] | None, Doc("docker/metadata-action flavor: lines")] = None,
        sign: Annotated[SigningMode, Doc("How to sign: none, key or keyless")] = SigningMode.NONE,
        sbom: Annotated[list[SbomFormat] | None, Doc("SBOM formats to attach: spdx-json, cyclonedx-json")] = None,
        provenance: Annotated[bool, Doc("Attach SLSA v1 provenance")] = False,
        scan_fail_on: Annotated[str, Doc("Severities that fail the scan gate; empty disables scanning")] = "",
        source_date_epoch: Annotated[int | None, Doc("Timestamp for reproducible images (default: commit time)")] = None,
        format: Annotated[OutputFormat, Doc("Plan format: text or json")] = OutputFormat.TEXT,
    ) -> str:
        """Print the full release plan (a dry run): tags, targets, platforms and every step, touching nothing."""
        plan = build_release_plan(
            tag=tag,
            sha=sha,
            targets=target or [],
            credentials=[auth.address for auth in self.auths],
            platforms=platform or [],
            tag_specs=parse_tag_specs(spec) if spec else None,
            flavor=parse_flavor(flavor) if flavor else None,
            signing=sign,
            sbom_formats=sbom or [],
            provenance=provenance,
            scan=ScanPolicy.from_strings(scan_fail_on) if scan_fail_on else None,
            source_date_epoch=source_date_epoch,
        )
        return plan.to_json() if format is OutputFormat.JSON else plan.render_text()

    @uncached_function
    @clear_errors
    async def sync_readme(
        self,
        repository: Annotated[str, Doc("Docker Hub repository, e.g. docker.io/acme/app")],
        readme: Annotated[dagger.File, Doc("Markdown file to publish as the overview (at most 25,000 bytes)")],
        short_description: Annotated[str, Doc("Short description (at most 100 characters); empty leaves it as is")] = "",
        api_url: Annotated[str, Doc("Override the Docker Hub API address")] = "",
    ) -> str:
        """Push a README as the Docker Hub repository overview; needs with-registry-auth for docker.io."""
        credentials = await self._credentials(DOCKER_HUB)
        return await push_readme(repository, await readme.contents(), short_description, credentials, api_url)
