"""``rebuild-check``: rebuild a release from source (nothing is pushed) and compare it with the published one."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from shipyard.commands.door import (
    Door,
    SecretInput,
    required_image,
)
from shipyard.commands.settings import with_settings
from shipyard.commands.source_build import _source_build
from shipyard.pipeline import (
    ReleaseState,
    run_rebuild_check,
)
from shipyard.release.cache import cache_summary
from shipyard.release.plan import build_release_plan
from shipyard.reports.report import RebuildReport
from shipyard.source import SourceTree
from shipyard.steps.tools import (
    RegistryAccess,
    keep_running,
)
from shipyard.values.refs import parse_reference


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
    state = ReleaseState(plan=release_plan, source=build.source, build=build.spec(), access=access, workdir=door.scratch())
    return dataclasses.replace(await run_rebuild_check(state, ref), cache=cache_summary(door.cache))
