"""``rebuild-check``: rebuild a release from source (nothing is pushed) and compare it with the published one."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from shipyard.commands.door import (
    Door,
    required_image,
)
from shipyard.commands.options import RebuildOptions, rebuild_options
from shipyard.commands.source_build import _source_build
from shipyard.errors import InvalidInput
from shipyard.pipeline import (
    ReleaseJob,
    run_rebuild_check,
)
from shipyard.release.cache import cache_summary
from shipyard.release.plan import build_release_plan
from shipyard.reports.report import RebuildReport
from shipyard.steps.tools import (
    RegistryAccess,
    keep_running,
)
from shipyard.values.refs import parse_reference


async def prepare(given: Mapping[str, Any], door: Door) -> RebuildOptions:
    """``rebuild-check``'s options, built once from what the door gave."""
    del door  # nothing of the door decides them
    return await rebuild_options(given)


async def rebuild_check(options: RebuildOptions, door: Door) -> RebuildReport:
    """Rebuild a release from source (nothing is pushed) and compare it with a published one."""
    ref = parse_reference(required_image(options.image, "the published release to compare with"), what="--image")
    source = options.build.source
    if source is None:
        raise InvalidInput("--source", None, "is missing", "Give the directory to build.")
    build = await _source_build(source, options.build, door)
    release_plan = build_release_plan(
        tag=options.tag,
        sha=build.sha,
        platforms=options.build.platforms,
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
