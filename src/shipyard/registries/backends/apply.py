"""Cleanup against a registry: read the inventory, plan with the retention policy, and (with
``apply``) delete through the backend's API.

Dry run is the default. Applying follows the plan's order (artifacts, indexes, children) and
contains failures: an image whose signature could not be deleted is left alone (no orphan), and
the children of an index that could not be deleted are left alone (no broken index).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from shipyard.errors import RegistryError
from shipyard.reports.report import CleanupReport
from shipyard.retention.inventory import Inventory
from shipyard.retention.planner import CleanupPlan, plan_cleanup
from shipyard.retention.policy import RetentionPolicy


class CleanupBackend(Protocol):
    """What a registry must offer for cleanup. ``delete`` takes a digest, or a tag where
    ``Inventory.deletes_tags_individually`` is set."""

    async def inventory(self, repository: str) -> Inventory: ...

    async def delete(self, repository: str, item: str) -> None: ...


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
