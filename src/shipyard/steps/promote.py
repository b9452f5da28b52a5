"""Move the tags, last: fixed tags on every target, then floating ones; undo on failure.

Runs only after every required target holds the release (and its signatures, attestations and a
passing scan). Floating tags that would go backwards are held back (``plan/promote.py``). If a
tag write fails, every tag already moved is put back where it was, on every target, so a failed
release never leaves a half-moved ``latest``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio

from shipyard.plan.errors import GateFailed, RegistryError, ShipyardError
from shipyard.plan.promote import Promotion, plan_promotion
from shipyard.plan.refs import parse_repository
from shipyard.registries.oci import OciRegistry


class PromotionFailed(GateFailed):
    """Writing tags failed; the tags already moved were put back."""


@dataclass
class TargetTags:
    repository: str  # as users write it
    client: OciRegistry
    promotion: Promotion
    previous: dict[str, str | None] = field(default_factory=dict)  # tag -> digest before this release
    written: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        return parse_repository(self.repository).repository


async def plan_tags(
    clients: dict[str, OciRegistry],
    repositories: Sequence[str],
    *,
    version: str | None,
    tags: Sequence[str],
    latest: bool,
    allow_backwards: bool,
) -> list[TargetTags]:
    """Read each repository's tags and decide what moves there (nothing is written)."""
    planned: dict[str, TargetTags] = {}

    async def one(repository: str) -> None:
        ref = parse_repository(repository)
        client = clients[ref.registry]
        try:
            existing = await client.list_tags(ref.repository)
        except RegistryError as exc:
            if exc.status != 404:
                raise
            existing = []  # a repository this release creates
        promotion = plan_promotion(version, tags, existing, latest=latest, allow_backwards=allow_backwards)
        state = TargetTags(repository, client, promotion)
        for tag in promotion.tags:
            state.previous[tag] = await client.manifest_digest(ref.repository, tag) if tag in existing else None
        planned[repository] = state

    async with anyio.create_task_group() as group:
        for repository in repositories:
            group.start_soon(one, repository)
    return [planned[r] for r in repositories]


async def write_tags(targets: Sequence[TargetTags], index: bytes, media_type: str, digest: str) -> None:
    """Write fixed tags everywhere, then floating tags everywhere; on failure restore and raise."""
    for phase in ("fixed", "floating"):
        errors: list[str] = []
        async with anyio.create_task_group() as group:
            for state in targets:
                for tag in getattr(state.promotion, phase):
                    if state.previous.get(tag) == digest:
                        state.written.append(tag)  # already there (a re-run): nothing to send
                    else:
                        group.start_soon(_write_one, state, tag, index, media_type, errors)
        if errors:
            restored = await _restore(targets, digest)
            raise PromotionFailed(f"writing tags failed ({'; '.join(sorted(errors))}); {restored}")


async def _write_one(state: TargetTags, tag: str, index: bytes, media_type: str, errors: list[str]) -> None:
    try:
        await state.client.put_manifest(state.path, tag, index, media_type)
        state.written.append(tag)
    except ShipyardError as exc:
        errors.append(f"{state.repository}:{tag}: {exc}")


async def _restore(targets: Sequence[TargetTags], digest: str) -> str:
    undone: list[str] = []
    failed: list[str] = []

    async def one(state: TargetTags, tag: str, previous: str) -> None:
        try:
            data, media_type = await state.client.manifest_bytes(state.path, previous)
            await state.client.put_manifest(state.path, tag, data, media_type)
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
