"""The Dagger surface: thin functions that turn arguments into a plan (and, later, run steps)."""

from __future__ import annotations

from typing import Annotated

from dagger import Doc, field, function, object_type

from shipyard.plan.config import SbomFormat, ScanPolicy, SigningMode
from shipyard.plan.plan import build_release_plan
from shipyard.plan.tags import parse_flavor, parse_tag_specs, tags_for


@object_type
class TagSet:
    """The tags a release gets: ``version`` is the main one, ``tags`` all of them, ``latest`` last."""

    version: str = field(default="")
    tags: list[str] = field(default=list)
    latest: bool = field(default=False)


@object_type
class Shipyard:
    """Release container images: build for every platform, push, sign, attest, scan, verify, clean up."""

    @function
    def tags(
        self,
        ref: Annotated[str, Doc("Git ref that triggered the release, e.g. refs/tags/v1.2.3 or refs/heads/main")],
        sha: Annotated[str, Doc("Full 40-character commit SHA (for sha-<7> tags)")] = "",
        event: Annotated[str, Doc("CI event: push, pull_request, workflow_dispatch, release")] = "push",
        default_branch: Annotated[str, Doc("The repository's default branch (for {{is_default_branch}} and type=edge)")] = "main",
        spec: Annotated[list[str] | None, Doc("docker/metadata-action tags: lines, pasted verbatim; default: the release table")] = None,
        flavor: Annotated[list[str] | None, Doc("docker/metadata-action flavor: lines (latest=auto|true|false, prefix=, suffix=)")] = None,
    ) -> TagSet:
        """Compute the image tags for a Git ref, exactly as docker/metadata-action would."""
        result = tags_for(ref=ref, sha=sha, event=event, default_branch=default_branch, specs=spec, flavor=flavor)
        return TagSet(version=result.version or "", tags=list(result.tags), latest=result.latest)  # type: ignore[call-arg]

    @function
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
        json: Annotated[bool, Doc("Print the plan as JSON instead of text")] = False,
    ) -> str:
        """Print the full release plan (a dry run): tags, targets, platforms and every step, touching nothing."""
        plan = build_release_plan(
            tag=tag,
            sha=sha,
            targets=target or [],
            platforms=platform or [],
            tag_specs=parse_tag_specs(spec) if spec else None,
            flavor=parse_flavor(flavor) if flavor else None,
            signing=sign,
            sbom_formats=sbom or [],
            provenance=provenance,
            scan=ScanPolicy.from_strings(scan_fail_on) if scan_fail_on else None,
            source_date_epoch=source_date_epoch,
        )
        return plan.to_json() if json else plan.render_text()
