"""Move the tags, last, all or nothing: fixed tags on every required target, then floating ones.

Runs only after every required target holds the release (and its signatures, attestations and a
passing scan). Each floating tag is computed from the version tags the registry holds at that
moment (``release/promote.py``), written, read back and computed again until it settles, so two
releases running at once end with the highest version on every floating tag. If anything fails
on a required target, every tag this release wrote is put back where it was and every tag it
created is deleted (where the registry can delete a tag), on every target; then all are read
back, and the report says what each tag names. Optional targets are best effort: their failure
is reported and undone there, and never fails the release. SIGINT/SIGTERM during the promotion
undo it within :data:`UNDO_SECONDS`; a second signal exits at once, naming what may be half-moved.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from shipyard.errors import GateFailed, RegistryError, ShipyardError, shipyard_error_in
from shipyard.oci_layout import OciLayout
from shipyard.registries.http import OutcomeUnknown
from shipyard.registries.oci import OciRegistry
from shipyard.release.promote import (
    VERSION_ANNOTATION,
    HeldBack,
    Outcome,
    TagRules,
    check_release_tags,
    floating_sources,
    held_back_reason,
    is_foreign,
    tag_outcome,
    tag_rules,
)
from shipyard.steps.context import ReleaseContext
from shipyard.values.refs import parse_repository

ROUNDS = 5  # write-read-recompute rounds before a floating tag that keeps moving fails the release
UNDO_SECONDS = 20.0  # the longest an undo after a failure or an interrupt may take


def _tag_rules(ctx: ReleaseContext) -> TagRules:
    plan = ctx.job.plan
    return tag_rules(plan.version, plan.tags, latest=plan.latest, allow_backwards=plan.allow_backwards)


async def run_check_release_tags(ctx: ReleaseContext) -> None:
    """The ``check-release-tags`` step: release tags are immutable; one that names other content
    stops the release before any push (exit 2), unless ``--allow-overwrite``. An unreachable
    optional target is left to the push."""
    job, made = ctx.job, ctx.artifacts
    assert made.release is not None
    rules = _tag_rules(ctx)
    if not rules.immutable:
        return
    current: dict[str, dict[str, str | None]] = {}

    async def one(repository: str, optional: bool) -> None:
        ref = parse_repository(repository)
        try:
            current[repository] = await read_tags(ctx.clients[ref.registry], ref.repository, rules.immutable)
        except ShipyardError:
            if not optional:
                raise

    async with anyio.create_task_group() as group:
        for target in job.plan.active_targets:
            group.start_soon(one, target.repository, target.optional)
    ordered = {t.repository: current[t.repository] for t in job.plan.active_targets if t.repository in current}
    made.notices += check_release_tags(rules, ordered, made.release.index.digest, allow_overwrite=job.plan.allow_overwrite)


async def run(ctx: ReleaseContext) -> None:
    """The ``promote`` step: the tags on every target that holds the release, written and read back, all or nothing."""
    made = ctx.artifacts
    assert made.release is not None
    pushed = [(p.repository, p.optional) for p in made.pushes if p.ok]
    made.tags = targets_for(ctx.clients, pushed, _tag_rules(ctx))
    index = made.release.index
    data = OciLayout(Path(made.release.layout)).read_blob(index.digest)
    try:
        await promote(made.tags, ReleaseManifest(data, index.media_type, index.digest))
    finally:
        made.notices += [notice for target in made.tags for notice in target.notices]
    for target in made.tags:
        ctx.job.progress.tags_moved(target.repository, tuple(target.at(index.digest)))


class PromotionFailed(GateFailed):
    """Writing tags failed; what this release wrote was put back (see each tag's outcome)."""


class PromotionInterrupted(ShipyardError):
    """SIGINT/SIGTERM arrived while tags moved; what this release wrote was put back."""

    def __init__(self, signum: int, message: str) -> None:
        self.exit_code = 128 + signum  # 130 (SIGINT), 143 (SIGTERM)
        super().__init__(message)


@dataclass(frozen=True)
class ReleaseManifest:
    """The release's index as written under each tag."""

    data: bytes
    media_type: str
    digest: str


@dataclass
class TagState:
    tag: str
    before: str | None = None  # the digest it named before this release; None: it did not exist
    after: str | None = None  # read back at the end
    read: bool = False  # ``after`` was read back
    attempted: bool = False  # this release sent a write for it (answered or not): undone on failure
    wrote: bool = False  # ... and the registry took it (answered, or read back)


@dataclass
class TargetTags:
    """One repository's tags during a promotion: their state before, what was written, after."""

    repository: str  # as users write it
    client: OciRegistry
    rules: TagRules
    optional: bool = False
    tags: dict[str, TagState] = field(default_factory=dict)
    held_back: list[HeldBack] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    error: str | None = None
    undone: bool = False  # the release failed here and its writes were put back

    @property
    def path(self) -> str:
        return parse_repository(self.repository).repository

    def outcome(self, tag: str, ours: str) -> Outcome:
        s = self.tags[tag]
        return tag_outcome(s.before, s.after, ours, wrote=s.wrote, undone=self.undone, read=s.read)

    def changes(self, ours: str) -> list[dict[str, Any]]:
        """Each tag: its digest before and after the release, and what happened to it."""
        return [{"tag": t, "before": s.before, "after": s.after, "outcome": self.outcome(t, ours).value} for t, s in self.tags.items()]

    def at(self, ours: str) -> tuple[str, ...]:
        """The tags that name the release after it (read back)."""
        return tuple(t for t, s in self.tags.items() if s.read and s.after == ours)


def targets_for(clients: dict[str, OciRegistry], repositories: Sequence[tuple[str, bool]], rules: TagRules) -> list[TargetTags]:
    """A promotion's targets: ``(repository, optional)`` pairs that hold the release by digest."""
    return [TargetTags(r, clients[parse_repository(r).registry], rules, optional=o) for r, o in repositories]


async def read_tags(client: OciRegistry, repository: str, tags: Sequence[str]) -> dict[str, str | None]:
    """The digest each of ``tags`` names in ``repository`` (``None``: absent, or no repository)."""
    try:
        existing = set(await client.list_tags(repository))
    except RegistryError as exc:
        if exc.status != 404:
            raise
        existing = set()  # a repository this release creates
    out: dict[str, str | None] = {}

    async def one(tag: str) -> None:
        out[tag] = await client.manifest_digest(repository, tag) if tag in existing else None

    async with anyio.create_task_group() as group:
        for tag in tags:
            group.start_soon(one, tag)
    return {t: out[t] for t in tags}


async def promote(targets: Sequence[TargetTags], release: ReleaseManifest) -> None:
    """Promote on every required target, all or nothing, then on each optional one (best effort).
    Raises :class:`PromotionFailed` or :class:`PromotionInterrupted` after putting tags back."""
    required = [t for t in targets if not t.optional]
    optional = [t for t in targets if t.optional]
    guard = _Guard(list(targets))
    failure: ShipyardError | None = None
    async with anyio.create_task_group() as watcher:
        watcher.start_soon(guard.watch)
        try:
            with guard.work:
                await _promote_all(required, release)
        except Exception as exc:  # a ShipyardError, possibly inside a task group's exception group
            error = shipyard_error_in(exc)
            if error is None:
                raise
            failure = PromotionFailed(f"moving tags failed ({error}); {await _undo(required, release)}")
        if failure is None and guard.signum is not None:
            name = signal.Signals(guard.signum).name
            failure = PromotionInterrupted(guard.signum, f"interrupted ({name}) while tags moved; {await _undo(required, release)}")
        if failure is None:
            async with anyio.create_task_group() as group:
                for target in optional:
                    group.start_soon(_best_effort, target, release)
        watcher.cancel_scope.cancel()
    if failure is not None:
        raise failure


async def _promote_all(targets: Sequence[TargetTags], release: ReleaseManifest) -> None:
    await _each(targets, _read_before)
    await _each(targets, lambda t: _write_fixed(t, release))
    await _each(targets, lambda t: _converge(t, release))
    await _each(targets, lambda t: _read_back(t, release))


async def _best_effort(target: TargetTags, release: ReleaseManifest) -> None:
    """An optional target: promoted like a required one; a failure is undone there and reported."""
    try:
        await _promote_all([target], release)
    except Exception as exc:
        error = shipyard_error_in(exc)
        if error is None:
            raise
        target.error = f"moving tags failed ({error}); {await _undo([target], release)} (optional: the release goes on)"


async def _each(targets: Sequence[TargetTags], step: Callable[[TargetTags], Coroutine[Any, Any, None]]) -> None:
    async with anyio.create_task_group() as group:
        for target in targets:
            group.start_soon(step, target)


async def _read_before(target: TargetTags) -> None:
    found = await read_tags(target.client, target.path, target.rules.tags)
    target.tags = {tag: TagState(tag, before=digest) for tag, digest in found.items()}


async def _write(target: TargetTags, tag: str, data: bytes, media_type: str, digest: str) -> None:
    """Point ``tag`` at ``digest``; a write whose outcome is unknown (it timed out, or the
    connection broke after it was sent) is read back before it counts as failed."""
    state = target.tags[tag]
    state.attempted = True
    try:
        await target.client.put_manifest(target.path, tag, data, media_type)
    except OutcomeUnknown as exc:
        if await target.client.manifest_digest(target.path, tag) != digest:
            raise RegistryError(target.client.registry, f"{exc}; read back, {target.repository}:{tag} does not name {digest}") from None
    state.wrote = True


async def _write_fixed(target: TargetTags, release: ReleaseManifest) -> None:
    for tag in target.rules.fixed:
        if target.tags[tag].before != release.digest:  # the same content again: nothing to send
            await _write(target, tag, release.data, release.media_type, release.digest)


async def _converge(target: TargetTags, release: ReleaseManifest) -> None:
    """Point each floating tag at the highest release of its line present now; read back and
    compute again until nothing changes (a concurrent release may have moved one meanwhile)."""
    rules = target.rules
    if not rules.floating:
        return
    own = rules.version_tag or ""
    for round_ in range(ROUNDS):
        existing = await target.client.list_tags(target.path)
        sources = floating_sources(rules, existing)
        digests: dict[str, str | None] = {own: release.digest}
        for source in set(sources.values()) - set(digests):
            digests[source] = await target.client.manifest_digest(target.path, source)
        wanted = {tag: digests[source] or release.digest for tag, source in sources.items()}
        now = {tag: await target.client.manifest_digest(target.path, tag) for tag in sources}
        if round_ == 0:
            await _note_foreign(target, now, wanted, existing)
        stale = [tag for tag in rules.floating_tags if now[tag] != wanted[tag]]
        if not stale:
            target.held_back = [
                HeldBack(tag, held_back_reason(tag, source, rules.version or "", wanted[tag]))
                for tag, source in sources.items()
                if source != own
            ]
            return
        for tag in stale:
            digest = wanted[tag]
            data, media_type = (
                (release.data, release.media_type) if digest == release.digest else await target.client.manifest_bytes(target.path, digest)
            )
            await _write(target, tag, data, media_type, digest)
    raise RegistryError(
        target.client.registry,
        f"floating tags of {target.repository} did not settle after {ROUNDS} rounds (another release keeps moving them)",
    )


async def _note_foreign(target: TargetTags, now: dict[str, str | None], wanted: dict[str, str], existing: Sequence[str]) -> None:
    """A floating tag that names no release (another tool's image) is overwritten with a notice."""
    for tag, digest in now.items():
        if digest is None or digest == wanted[tag]:
            continue
        fetched = await target.client.manifest(target.path, digest)
        version = ((fetched.body.get("annotations") or {}).get(VERSION_ANNOTATION) if fetched else None) or None
        if is_foreign(version, target.rules, existing):
            target.notices.append(
                f"{target.repository}:{tag} named {digest}, which no version tag names (made by another tool?); "
                f"overwritten with {wanted[tag]}"
            )


async def _read_back(target: TargetTags, release: ReleaseManifest) -> None:
    """Read every tag back: fixed tags must name the release, floating ones what they settled on."""
    await _read_after(target)
    wrong = [f"{tag} -> {target.tags[tag].after}" for tag in target.rules.fixed if target.tags[tag].after != release.digest]
    if wrong:
        raise RegistryError(
            target.client.registry, f"read back, tags of {target.repository} do not name the release {release.digest}: {', '.join(wrong)}"
        )


async def _read_after(target: TargetTags) -> None:
    async def one(state: TagState) -> None:
        try:
            state.after = await target.client.manifest_digest(target.path, state.tag)
            state.read = True
        except ShipyardError:
            state.read = False

    async with anyio.create_task_group() as group:
        for state in target.tags.values():
            group.start_soon(one, state)


async def _undo(targets: Sequence[TargetTags], release: ReleaseManifest) -> str:
    """Put back every tag this release wrote (created ones deleted), within :data:`UNDO_SECONDS`,
    shielded from cancellation; then read every tag back. Returns one sentence for the error."""
    failed: list[str] = []
    cannot_delete: set[str] = set()

    async def one(target: TargetTags, state: TagState) -> None:
        try:
            if state.before is None:
                if await target.client.manifest_digest(target.path, state.tag) is None:
                    return  # never landed
                if not await target.client.delete_tag(target.path, state.tag):
                    cannot_delete.add(target.client.registry)
                    failed.append(f"{target.repository}:{state.tag} (the registry cannot delete a tag)")
            elif await target.client.manifest_digest(target.path, state.tag) != state.before:
                data, media_type = await target.client.manifest_bytes(target.path, state.before)
                await target.client.put_manifest(target.path, state.tag, data, media_type)
        except ShipyardError as exc:
            failed.append(f"{target.repository}:{state.tag} ({exc})")

    with anyio.CancelScope(shield=True), anyio.move_on_after(UNDO_SECONDS) as budget:
        async with anyio.create_task_group() as group:
            for target in targets:
                target.undone = True
                for state in target.tags.values():
                    if state.attempted:
                        group.start_soon(one, target, state)
        await _each(targets, _read_after)
    touched = [f"{t.repository}:{s.tag}" for t in targets for s in t.tags.values() if s.attempted]
    if not touched:
        return "no tag had moved"
    left = [f"{t.repository}:{s.tag}" for t in targets for s in t.tags.values() if s.attempted and (not s.read or s.after != s.before)]
    text = f"{len(touched) - len(left)} of {len(touched)} tag(s) this release wrote put back (restored or deleted)"
    if budget.cancelled_caught:
        text += f"; the undo ran out of its {UNDO_SECONDS:g}s"
    if left:
        text += f"; still moved: {', '.join(sorted(left))}"
    if cannot_delete:
        text += f" ({', '.join(sorted(cannot_delete))} cannot delete a tag: those name the complete, verified release)"
    if failed and not left:
        text += f"; problems: {', '.join(sorted(failed))}"
    return text


class _Guard:
    """Signals during a promotion: the first cancels the work (the undo follows), a second one
    exits at once, naming what may be half-moved. Off where signals cannot be caught (a thread)."""

    def __init__(self, targets: list[TargetTags]) -> None:
        self.targets = targets
        self.work = anyio.CancelScope()
        self.signum: int | None = None

    async def watch(self) -> None:
        try:
            receiver = anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM)
            with receiver as signals:
                async for signum in signals:
                    if self.signum is None:
                        self.signum = signum
                        print(
                            f"shipyard: {signal.Signals(signum).name} while tags move: putting back what this release moved "
                            f"(at most {UNDO_SECONDS:g}s; a second signal aborts at once)",
                            file=sys.stderr,
                            flush=True,
                        )
                        self.work.cancel()
                    else:
                        self.abort(signum)
        except (NotImplementedError, ValueError, RuntimeError):
            return  # not the main thread (a module's runtime): the engine handles signals

    def abort(self, signum: int) -> None:
        moved = [f"{t.repository}:{s.tag} (was {s.before or 'absent'})" for t in self.targets for s in t.tags.values() if s.attempted]
        what = f"these tags may be half-moved: {', '.join(moved)}" if moved else "no tag had been written"
        print(f"shipyard: aborted by a second {signal.Signals(signum).name}: {what}", file=sys.stderr, flush=True)
        os._exit(128 + signum)
