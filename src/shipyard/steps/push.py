"""Push the assembled release by digest to every target, registries concurrently; no tag moves.

Blobs go once per registry (crane checks with HEAD first), then the platform manifests, then the
index. A required target that fails fails the release; an optional one is reported and skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import anyio
import dagger

from shipyard.plan.errors import ShipyardError
from shipyard.plan.plan import PlannedTarget
from shipyard.steps.crane import Crane


@dataclass(frozen=True)
class PushResult:
    repository: str
    optional: bool
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


async def push_release(crane: Crane, layout: dagger.Directory, digest: str, targets: Sequence[PlannedTarget]) -> list[PushResult]:
    """Push to every target; returns one result per target (in the targets' order)."""
    results: dict[str, PushResult] = {}

    async def one(target: PlannedTarget) -> None:
        try:
            await crane.push_layout(layout, target.repository, digest)
            results[target.repository] = PushResult(target.repository, target.optional)
        except ShipyardError as exc:
            results[target.repository] = PushResult(target.repository, target.optional, error=str(exc))

    async with anyio.create_task_group() as group:
        for target in targets:
            group.start_soon(one, target)
    return [results[t.repository] for t in targets]
