"""``plan``: the whole release plan, touching nothing (no engine)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from shipyard.commands.door import (
    Door,
    _block,
    _epoch,
    _info,
)
from shipyard.commands.settings import Settled, with_settings
from shipyard.release.config import (
    SbomFormat,
    SigningMode,
    lowercase_notice,
    provenance_from_args,
    sbom_formats_from_args,
    scan_policy_from_args,
)
from shipyard.release.plan import ReleasePlan, build_release_plan
from shipyard.source import SourceTree
from shipyard.tagging.tags import parse_flavor, parse_tag_specs


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
