"""``plan``: the whole release plan, touching nothing (no engine)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shipyard.commands.door import (
    TRIVYIGNORE,
    Door,
    _block,
    _epoch,
    _info,
    tool_images_from_text,
)
from shipyard.commands.options import ReleaseOptions, release_options
from shipyard.release.config import (
    lowercase_notice,
)
from shipyard.release.plan import ReleasePlan, build_release_plan
from shipyard.smoke_inputs import read_smoke_plan
from shipyard.tagging.tags import parse_flavor, parse_tag_specs


@dataclass(frozen=True)
class SourceFacts:
    """What the planner reads of the source: its commit, commit time, origin and Dockerfile."""

    sha: str
    commit_epoch: int | None
    url: str
    dockerfile_text: str | None
    secret_ids: tuple[str, ...] | None = None  # publish --from: the build secrets the layouts were built with


async def source_facts(options: ReleaseOptions) -> SourceFacts:
    """The source as ``plan`` reads it (``publish`` reads it with its build: source_build.py)."""
    source = options.build.source
    info = await _info(source)
    text = await source.read_text(options.build.dockerfile, what="--dockerfile") if source is not None else None
    return SourceFacts(sha=options.build.sha or info.sha, commit_epoch=info.commit_epoch, url=info.url, dockerfile_text=text)


async def release_plan(options: ReleaseOptions, door: Door, facts: SourceFacts) -> ReleasePlan:
    """THE planner of a release, called by ``plan`` and by ``publish`` alike: every decision
    publish acts on, from the options and the source (no engine, no key read)."""
    source, targets = options.build.source, options.targets
    ignore = options.scan.trivyignore
    if ignore is None and not options.scan.off and options.scan.fail_on.strip() and source is not None:
        ignore = await source.read_text(TRIVYIGNORE, what="the source's .trivyignore")  # as Trivy reads it from its directory
    smoke = (
        await read_smoke_plan(source, options.smoke.test(), dockerfile=options.build.dockerfile, platform=options.build.platforms)
        if source is not None
        else None
    )
    given_tools = options.supply_chain.tool_images
    tools = tool_images_from_text(given_tools, "--tool-images") if given_tools is not None else door.tools()
    planned = build_release_plan(
        tag=targets.tag,
        sha=facts.sha,
        event=targets.event,
        targets=targets.images,
        credentials=sorted({*door.credentials, *door.declared_registries}),
        platforms=options.build.platforms,
        tag_specs=parse_tag_specs(_block(targets.spec)) if _block(targets.spec) else None,
        flavor=parse_flavor(_block(targets.flavor)) if _block(targets.flavor) else None,
        signing=options.signing.resolved(),
        sbom_formats=options.supply_chain.sbom_formats(),
        provenance=options.supply_chain.with_provenance(),
        scan=options.scan.policy(ignore),
        smoke=smoke,
        tools=tools,
        source_date_epoch=_epoch(options.build.source_date_epoch, door),
        commit_epoch=facts.commit_epoch,
        annotations={"source": facts.url or None},
        dockerfile=facts.dockerfile_text,
        builders=options.builders,
        allow_floating_tags=options.promotion.allow_floating_tags,
        allow_backwards=options.promotion.allow_backwards,
        allow_overwrite=options.promotion.allow_overwrite,
        build_secrets=facts.secret_ids if facts.secret_ids is not None else tuple(name for name, _ in options.build.secrets),
    )
    settings = options.settings
    shown = {k: o for k, o in settings.origins.items() if k in settings.given}
    return announce(planned).model_copy(
        update={
            "cache": door.cache.describe(),
            "settings_file": settings.file.path,
            "settings": {k: {"value": _shown_setting(settings.arguments[k]), "from": o.value} for k, o in shown.items()},
        }
    )


async def prepare(given: Mapping[str, Any], door: Door) -> ReleaseOptions:
    """``plan``'s options: a subset of ``publish``'s flags, the rest from the settings file or the defaults."""
    return await release_options("plan", given, door.builders)


async def plan(options: ReleaseOptions, door: Door) -> ReleasePlan:
    """The whole release plan, touching nothing: what ``publish`` with the same arguments (and
    the same settings file) would do; ``sign auto`` plans no signing, as no key is read here."""
    return await release_plan(options, door, await source_facts(options))


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
