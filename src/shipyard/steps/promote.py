"""Move the tags, last: fixed tags on every target, then floating ones; undo on failure.

Runs only after every required target holds the release (and its signatures, attestations and a
passing scan). Floating tags that would go backwards are held back (``plan/promote.py``). If a
tag write fails, every floating tag already moved is put back where it was, on every target, so
a failed release never leaves a half-moved ``latest``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio

from shipyard.plan.errors import ShipyardError
from shipyard.plan.promote import Promotion, plan_promotion
from shipyard.steps.crane import Crane


class PromotionFailed(ShipyardError):
    """Writing tags failed; floating tags were restored to where they were."""


@dataclass
class TargetTags:
    repository: str
    promotion: Promotion
    previous: dict[str, str | None] = field(default_factory=dict)  # tag -> digest before this release
    written: list[str] = field(default_factory=list)


async def plan_tags(
    crane: Crane, repositories: Sequence[str], *, version: str | None, tags: Sequence[str], latest: bool, allow_backwards: bool
) -> list[TargetTags]:
    """Read each repository's tags and decide what moves there (nothing is written)."""
    planned: dict[str, TargetTags] = {}

    async def one(repository: str) -> None:
        existing = await crane.list_tags(repository)
        promotion = plan_promotion(version, tags, existing, latest=latest, allow_backwards=allow_backwards)
        state = TargetTags(repository, promotion)
        present = [t for t in promotion.tags if t in existing]
        async with anyio.create_task_group() as group:
            for tag in present:
                group.start_soon(_remember, crane, state, tag)
        planned[repository] = state

    async with anyio.create_task_group() as group:
        for repository in repositories:
            group.start_soon(one, repository)
    return [planned[r] for r in repositories]


async def _remember(crane: Crane, state: TargetTags, tag: str) -> None:
    state.previous[tag] = await crane.digest(f"{state.repository}:{tag}")


async def write_tags(crane: Crane, targets: Sequence[TargetTags], digest: str) -> None:
    """Write fixed tags everywhere, then floating tags everywhere; on failure restore and raise."""
    for phase in ("fixed", "floating"):
        errors: list[str] = []
        async with anyio.create_task_group() as group:
            for state in targets:
                for tag in getattr(state.promotion, phase):
                    group.start_soon(_write_one, crane, state, digest, tag, errors)
        if errors:
            restored = await _restore(crane, targets, digest)
            raise PromotionFailed(f"writing tags failed ({'; '.join(sorted(errors))}); {restored}")


async def _write_one(crane: Crane, state: TargetTags, digest: str, tag: str, errors: list[str]) -> None:
    try:
        await crane.tag(state.repository, digest, tag)
        state.written.append(tag)
    except ShipyardError as exc:
        errors.append(f"{state.repository}:{tag}: {exc}")


async def _restore(crane: Crane, targets: Sequence[TargetTags], digest: str) -> str:
    undone: list[str] = []
    failed: list[str] = []

    async def one(state: TargetTags, tag: str, previous: str) -> None:
        try:
            await crane.tag(state.repository, previous, tag)
            undone.append(f"{state.repository}:{tag}")
        except ShipyardError as exc:
            failed.append(f"{state.repository}:{tag} ({exc})")

    async with anyio.create_task_group() as group:
        for state in targets:
            for tag in state.written:
                previous = state.previous.get(tag)
                if previous and previous != digest:
                    group.start_soon(one, state, tag, previous)
    text = f"restored {len(undone)} tag(s) to their previous digest"
    return text + (f"; could not restore {', '.join(sorted(failed))}" if failed else "")
