"""``build``: platforms built as publish would, into an OCI layout with its record; nothing is pushed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.commands.door import (
    Door,
)
from shipyard.commands.options import BuildRunOptions, build_run_options
from shipyard.commands.source_build import _source_build
from shipyard.errors import InvalidInput
from shipyard.pipeline import (
    BuildState,
    run_build,
)
from shipyard.release.image import sha256_digest
from shipyard.release.layouts import BuildRecord, BuildReport, LayoutImage, resolve_epoch
from shipyard.steps.provenance import shipyard_version
from shipyard.values.platforms import DEFAULT_PLATFORMS, Platform, parse_platforms


async def prepare(given: Mapping[str, Any], door: Door) -> BuildRunOptions:
    """``build``'s options, built once from what the door gave."""
    del door  # nothing of the door decides them
    return await build_run_options(given)


async def build(options: BuildRunOptions, door: Door) -> BuildReport:
    """Build platforms (as ``publish`` would) into an OCI layout in ``door.out`` with its record;
    nothing is pushed. ``publish --from`` releases what one or several builds wrote."""
    platforms = parse_platforms(list(options.build.platforms) or list(DEFAULT_PLATFORMS))
    source = options.build.source
    if source is None:
        raise InvalidInput("--source", None, "is missing", "Give the directory to build.")
    source_build = await _source_build(source, options.build, door)
    epoch = resolve_epoch(source_build.source_date_epoch, source_build.commit_epoch)
    if door.out is None:
        raise RuntimeError("build needs an output directory")

    def record(digests: dict[Platform, str], engine_version: str) -> BuildRecord:
        return BuildRecord(
            images=tuple(LayoutImage(platform=str(p), digest=digests[p]) for p in platforms),
            commit=source_build.sha,
            source_url=source_build.source_url,
            source_date_epoch=epoch,
            dockerfile=source_build.dockerfile,
            dockerfile_digest=sha256_digest(source_build.dockerfile_text.encode()),
            target=source_build.target,
            build_args=source_build.build_args,
            build_secrets=tuple(sorted(name for name, _ in source_build.secrets)),
            runner=options.runner,
            engine=door.engine,
            engine_version=engine_version,
            shipyard_version=shipyard_version(),
        )

    state = BuildState(
        source=source_build.source,
        build=source_build.spec(),
        platforms=platforms,
        workdir=door.scratch(),
        out=door.out,
        record=record,
        commit=source_build.sha,
        source_url=source_build.source_url,
        source_date_epoch=epoch,
        progress_log=door.progress_log,
    )
    return await run_build(state)
