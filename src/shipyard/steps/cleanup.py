"""Cleanup: read a repository, plan with the retention policy, and (with ``apply``) delete.

Dry run is the default. Applying follows the plan's order (artifacts, indexes, children) and
contains failures: an image whose signature could not be deleted is left alone (no orphan), and
the children of an index that could not be deleted are left alone (no broken index).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from shipyard.plan.errors import RegistryError
from shipyard.plan.retention import CleanupPlan, Inventory, RetentionPolicy, plan_cleanup


class CleanupBackend(Protocol):
    """What a registry must offer for cleanup. ``delete`` takes a digest, or a tag where
    ``Inventory.deletes_tags_individually`` is set."""

    async def inventory(self, repository: str) -> Inventory: ...

    async def delete(self, repository: str, item: str) -> None: ...


@dataclass
class CleanupReport:
    plan: CleanupPlan
    applied: bool
    deleted: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_json(self) -> dict[str, object]:
        return {
            "applied": self.applied,
            "plan": self.plan.to_json(),
            "deleted": self.deleted,
            "failed": [{"item": i, "error": e} for i, e in self.failed],
            "skipped": [{"item": i, "reason": r} for i, r in self.skipped],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2)

    def render_text(self) -> str:
        lines = [self.plan.render_text()]
        if not self.applied:
            lines.append(f"Dry run: nothing deleted. Re-run with --apply to delete {len(self.plan.delete_order)} item(s).")
            return "\n".join(lines)
        lines.append(f"Deleted {len(self.deleted)} item(s)" + (":" if self.deleted else "."))
        lines += [f"  - {item}" for item in self.deleted]
        if self.failed:
            lines.append(f"Failed {len(self.failed)}:")
            lines += [f"  - {item}: {error}" for item, error in self.failed]
        if self.skipped:
            lines.append(f"Skipped {len(self.skipped)}:")
            lines += [f"  - {item}: {reason}" for item, reason in self.skipped]
        return "\n".join(lines)


async def run_cleanup(
    backend: CleanupBackend, repository: str, policy: RetentionPolicy, *, now: datetime, apply: bool = False
) -> CleanupReport:
    inventory = await backend.inventory(repository)
    plan = plan_cleanup(inventory, policy, now)
    report = CleanupReport(plan=plan, applied=apply)
    if apply:
        await _apply(backend, repository, inventory, plan, report)
    return report


async def _apply(backend: CleanupBackend, repository: str, inv: Inventory, plan: CleanupPlan, report: CleanupReport) -> None:
    blocked: dict[str, str] = {}  # digest -> why it must not be deleted now

    def keep_children(digest: str, why: str) -> None:
        for child in inv.manifests[digest].children if digest in inv.manifests else ():
            blocked.setdefault(child, why)

    for item in plan.delete_order:
        manifest = inv.manifests.get(item)
        if item in blocked:
            report.skipped.append((item, blocked[item]))
            keep_children(item, f"its index {item[:19]} was left in place")
            continue
        try:
            await backend.delete(repository, item)
        except RegistryError as exc:
            report.failed.append((item, str(exc)))
            if manifest and manifest.subject:
                blocked[manifest.subject] = f"its {manifest.artifact} {item[:19]} could not be deleted"
            keep_children(item, f"its index {item[:19]} could not be deleted")
            continue
        report.deleted.append(item)
