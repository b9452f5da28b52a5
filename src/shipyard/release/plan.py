"""The release plan: one pure function turns every input into the full, ordered plan.

Each publishing function prints this plan for ``--dry-run`` and executes exactly it otherwise;
steps never re-derive what the plan decided.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

from shipyard.errors import InvalidInput
from shipyard.gates.smoke import SmokePlan
from shipyard.release.builders import parse_builders
from shipyard.release.config import SbomFormat, ScanPolicy, SigningMode, Target, ToolImages, is_loopback_registry
from shipyard.release.dockerfile import BuildStage, dockerfile_stages
from shipyard.release.steps import enabled_steps
from shipyard.tagging.labels import FALLBACK_EPOCH, oci_annotations, parse_epoch
from shipyard.tagging.tags import Flavor, GitContext, TagSpec, compute_tags
from shipyard.values.platforms import DEFAULT_PLATFORMS, parse_platforms
from shipyard.values.refs import parse_registry
from shipyard.values.versions import parse_semver

# Zero-config default: an ephemeral registry run as a service inside the engine, under a name
# only the release's own tool containers resolve (it never collides with a registry of yours).
EPHEMERAL_REGISTRY = "shipyard-ephemeral:5000"

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class PlannedTarget(BaseModel):
    model_config = _FROZEN
    repository: str
    registry: str
    optional: bool
    skipped: str | None = None  # why the target is skipped; None when it is published to
    ephemeral: bool = False
    written_as: str | None = None  # the --image as given, when it had upper case (lowercased)

    @property
    def active(self) -> bool:
        return self.skipped is None


class PlannedStep(BaseModel):
    """A step of release/steps.py's list that the plan enables, and what it does for this plan."""

    model_config = _FROZEN
    name: str
    description: str


class ReleasePlan(BaseModel):
    """Everything a release will do, decided before the engine is touched."""

    model_config = _FROZEN
    version: str | None
    tags: tuple[str, ...]
    latest: bool
    platforms: tuple[str, ...]
    targets: tuple[PlannedTarget, ...]
    steps: tuple[PlannedStep, ...]
    annotations: dict[str, str]
    source_date_epoch: int
    signing: SigningMode
    sbom_formats: tuple[SbomFormat, ...]
    provenance: bool
    scan: ScanPolicy | None
    tools: ToolImages
    smoke: SmokePlan | None = None
    stages: tuple[BuildStage, ...] = ()  # the Dockerfile's stages, when it was given
    notices: tuple[str, ...] = ()
    builders: dict[str, str] = {}  # platform -> the engine that builds it (--builder); others: the default engine
    allow_backwards: bool = False  # floating tags (latest, X, X.Y) may move to an older release
    allow_overwrite: bool = False  # a version tag may move to other content
    build_secrets: tuple[str, ...] = ()  # the build secrets' ids (names only: the values never reach the plan)
    cache: str = ""  # the build cache, as release/cache.py describes it (who set it, from/to)
    settings_file: str = ""  # shipyard.toml or pyproject.toml, when the source has one
    settings: dict[str, dict[str, Any]] = {}  # key -> {"value", "from": flag|file|default} (release/settings.py)

    @property
    def active_targets(self) -> tuple[PlannedTarget, ...]:
        return tuple(t for t in self.targets if t.active)

    @property
    def ok(self) -> bool:
        """A plan is a dry run: it always succeeds (a plan that cannot work is an error instead)."""
        return True

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json")
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def render_text(self) -> str:
        lines = [f"Release plan for {self.version or '(no version)'}"]
        lines.append(f"  platforms: {', '.join(self.platforms)}")
        for platform, address in self.builders.items():
            lines.append(f"  builder:   {platform} on {address}")
        if self.cache:
            lines.append(f"  cache:     {self.cache}")
        lines.append(f"  tags:      {', '.join(self.tags)}")
        lines.append(f"  created:   {self.annotations['org.opencontainers.image.created']} (SOURCE_DATE_EPOCH={self.source_date_epoch})")
        lines.append("  targets:")
        for target in self.targets:
            state = (
                f"skipped: {target.skipped}"
                if target.skipped
                else ("ephemeral" if target.ephemeral else ("optional" if target.optional else "required"))
            )
            lines.append(f"    - {target.repository} ({state})")
        if self.stages:
            lines.append("  stages:")
            lines.extend(f"    - {stage.describe()}" for stage in self.stages)
        lines.append("  steps:")
        lines.extend(f"    {i}. {step.name}: {step.description}" for i, step in enumerate(self.steps, 1))
        lines.extend(f"  notice: {n}" for n in self.notices)
        if self.settings:
            lines.append(f"  settings ({self.settings_file or 'no settings file'}; flag > file > default):")
            width = max(len(k) for k in self.settings)
            for key, shown in self.settings.items():
                lines.append(f"    {key:<{width}}  {shown['from']:<7}  {json.dumps(shown['value'])}")
        return "\n".join(lines)


def build_release_plan(
    *,
    tag: str,
    sha: str = "",
    event: str = "push",
    targets: Iterable[str] = (),
    credentials: Iterable[str] = (),
    platforms: Iterable[str] = (),
    tag_specs: list[TagSpec] | None = None,
    flavor: Flavor | None = None,
    signing: SigningMode = SigningMode.NONE,
    sbom_formats: Iterable[SbomFormat] = (),
    provenance: bool = False,
    scan: ScanPolicy | None = None,
    smoke: SmokePlan | None = None,
    tools: ToolImages | None = None,
    source_date_epoch: int | None = None,
    commit_epoch: int | None = None,
    annotations: dict[str, str | None] | None = None,
    name: str = "app",
    dockerfile: str | None = None,
    builders: Iterable[str] = (),
    allow_floating_tags: bool = False,
    allow_backwards: bool = False,
    allow_overwrite: bool = False,
    build_secrets: Iterable[str] = (),
    check_tag_kind: bool = True,
) -> ReleasePlan:
    """Validate the inputs and decide the whole release.

    ``credentials`` lists the registries that have credentials configured; a required target
    on another (non-loopback) registry is an error, an optional one is skipped with a notice.
    A ``tag`` that is no semantic version needs tag rules (``check_tag_kind``: off for a rebuild
    of what was released already).
    """
    check_release_tag(tag)
    source_date_epoch = parse_epoch(source_date_epoch, what="--source-date-epoch")
    commit_epoch = parse_epoch(commit_epoch, what="commit time of --source")
    ctx = GitContext.for_tag(tag, sha=sha, event=event, source_date_epoch=source_date_epoch, commit_epoch=commit_epoch)
    if check_tag_kind:
        check_custom_tag(tag, tag_specs, allow_floating_tags)
    result = compute_tags(ctx, tag_specs, flavor)
    if check_tag_kind:
        check_custom_tags(tag, result.tags, allow_floating_tags)
    if result.version is None:
        raise InvalidInput(
            "tag",
            tag,
            "produces no image tag with the given tag strategy",
            "Use a semantic version such as v1.2.3, or add a tag line that applies (e.g. type=raw,value=...).",
        )
    parsed_platforms = parse_platforms(list(platforms) or list(DEFAULT_PLATFORMS))
    have_credentials = {parse_registry(c, what="--registry-credentials") for c in credentials}
    planned: list[PlannedTarget] = []
    notices: list[str] = []
    parsed_targets = Target.parse_all(targets)
    notices.extend(n for t in parsed_targets if (n := t.lowercase_notice()) is not None)
    if len({t.repository for t in parsed_targets}) != len(parsed_targets):
        raise InvalidInput("--image", list(targets), "names the same repository twice", "List each repository once.")
    for target in parsed_targets:
        needs_auth = not is_loopback_registry(target.registry)
        skipped = None
        if needs_auth and target.registry not in have_credentials:
            if not target.optional:
                raise InvalidInput(
                    "--image",
                    target.repository,
                    f"needs credentials for registry {target.registry}",
                    f"Give credentials for {target.registry} (shipyard: --registry-auth {target.registry}=USER:env:NAME;"
                    f" dagger call: with-registry-auth --address {target.registry} ...), or mark the target ',optional'.",
                )
            skipped = f"no credentials for {target.registry}"
            notices.append(f"optional target {target.repository} skipped: {skipped}")
        planned.append(
            PlannedTarget(
                repository=target.repository,
                registry=target.registry,
                optional=target.optional,
                skipped=skipped,
                written_as=target.written_as,
            )
        )
    if not planned:
        repo = f"{EPHEMERAL_REGISTRY}/shipyard/{name}"
        planned.append(PlannedTarget(repository=repo, registry=EPHEMERAL_REGISTRY, optional=False, ephemeral=True))
        notices.append(
            f"no --image given: publishing to an ephemeral registry inside the engine ({repo}); the release is kept in the output directory"
        )
    if not any(t.active for t in planned):
        raise InvalidInput("--image", list(targets), "leaves nothing to publish to", "Provide credentials for at least one target.")
    epoch = source_date_epoch if source_date_epoch is not None else (commit_epoch if commit_epoch is not None else FALLBACK_EPOCH)
    values = dict(annotations or {})
    values.setdefault("version", result.version)
    if sha:
        values.setdefault("revision", sha)
    formats = tuple(dict.fromkeys(sbom_formats))
    chosen = {p: b.address for b in parse_builders(builders, parsed_platforms) for p in b.platforms}
    engines = {str(p): chosen[p] for p in parsed_platforms if p in chosen}
    plan = ReleasePlan(
        version=result.version,
        tags=result.tags,
        latest=result.latest,
        platforms=tuple(str(p) for p in parsed_platforms),
        targets=tuple(planned),
        steps=(),
        annotations=oci_annotations(epoch=epoch, **values),
        source_date_epoch=epoch,
        signing=signing,
        sbom_formats=formats,
        provenance=provenance,
        scan=scan,
        smoke=smoke,
        tools=tools or ToolImages(),
        stages=dockerfile_stages(dockerfile) if dockerfile else (),
        notices=tuple(notices),
        builders=engines,
        allow_backwards=allow_backwards,
        allow_overwrite=allow_overwrite,
        build_secrets=tuple(build_secrets),
    )
    return plan.model_copy(update={"steps": tuple(PlannedStep(name=s.name, description=s.describe(plan)) for s in enabled_steps(plan))})


# What `git check-ref-format` refuses in a tag name (a release tag must be one Git can hold).
_BAD_GIT_NAME = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|/\.|\.lock(/|$)|^[/.]|[/.]$")


def check_release_tag(tag: str) -> None:
    """``--tag`` must be a Git tag name, not a ref or a phrase: it becomes ``refs/tags/<tag>``."""
    if not tag:
        raise InvalidInput("--tag", tag, "is empty", "Pass the version to release, e.g. --tag v1.2.3.")
    if tag.startswith("refs/"):
        raise InvalidInput("--tag", tag, "is a Git ref, not a tag name", f"Pass the tag name itself, e.g. --tag {tag.rsplit('/', 1)[-1]}.")
    if tag == "@" or _BAD_GIT_NAME.search(tag):
        raise InvalidInput(
            "--tag",
            tag,
            "is not a valid Git tag name",
            "Tag names have no spaces, control characters, '~^:?*[\\', '..', '@{' or leading/trailing '.' and '/'; e.g. v1.2.3.",
        )


FLOATING_TAG = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))?|latest")


def check_custom_tag(tag: str, tag_specs: list[TagSpec] | None, allow_floating_tags: bool) -> None:
    """A ``--tag`` that is no semantic version (``1.2``, ``main``, ``latest``) is a custom tag: the
    release table would publish it as is, so it is refused unless the tag rules say what to
    write (an explicit ``type=raw`` rule, metadata-action's way of asking for a custom tag)."""
    if parse_semver(tag) is not None or tag_specs is not None:
        return
    rule = f"type=raw,value={tag}"
    floating = FLOATING_TAG.fullmatch(tag) is not None
    extra = " and --allow-floating-tags (it is the name of a tag semver releases move)" if floating and not allow_floating_tags else ""
    raise InvalidInput(
        "--tag",
        tag,
        "is not a semantic version (e.g. v1.2.3 or v1.2.3-rc.1), so it names no release",
        f"Release a version such as v{tag}.0, or ask for a custom tag: --spec '{rule}'{extra}."
        if re.fullmatch(r"\d+\.\d+", tag)
        else f"Release a version such as v1.2.3, or ask for a custom tag: --spec '{rule}'{extra}.",
    )


def check_custom_tags(tag: str, tags: Iterable[str], allow_floating_tags: bool) -> None:
    """A custom release (no semantic version) never writes ``X``, ``X.Y`` or ``latest``, the tags
    semver releases move forward, unless ``--allow-floating-tags`` says so."""
    if parse_semver(tag) is not None or allow_floating_tags:
        return
    floating = [t for t in tags if FLOATING_TAG.fullmatch(t)]
    if floating:
        raise InvalidInput(
            "image tag",
            floating[0],
            f"is the name of a floating tag that semver releases move, and {tag!r} is a custom tag, not a version",
            "Choose another custom tag name (e.g. edge, main), or pass --allow-floating-tags to write it anyway.",
        )
