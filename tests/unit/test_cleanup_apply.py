"""Applying a cleanup plan: order, and failure containment (no orphan, no broken index)."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio

from shipyard.errors import RegistryError
from shipyard.registries.backends.apply import run_cleanup
from shipyard.reports.report import CleanupReport
from shipyard.retention.inventory import Inventory, Manifest
from shipyard.retention.policy import RetentionPolicy


def dg(n: int) -> str:
    return f"sha256:{n:064x}"


class FakeBackend:
    """An in-memory repository whose deletes fail for chosen digests."""

    def __init__(self, inventory: Inventory, failing: set[str]) -> None:
        self._inventory = inventory
        self.failing = failing
        self.deleted: list[str] = []

    async def inventory(self, repository: str) -> Inventory:
        return self._inventory

    async def delete(self, repository: str, item: str) -> None:
        if item in self.failing:
            raise RegistryError("fake", "delete refused", 500)
        self.deleted.append(item)


def untagged_index_with_signature() -> Inventory:
    manifests = {
        dg(1): Manifest(dg(1), children=(dg(11), dg(12))),
        dg(11): Manifest(dg(11)),
        dg(12): Manifest(dg(12)),
        dg(2): Manifest(dg(2), subject=dg(1), artifact="signature"),
    }
    return Inventory("fake/app", {}, manifests)


def run(backend: FakeBackend, apply: bool = True) -> CleanupReport:
    policy = RetentionPolicy(keep_untagged=0)
    return anyio.run(lambda: run_cleanup(backend, "app", policy, now=datetime.now(UTC), apply=apply))


def test_deletes_signature_then_index_then_children() -> None:
    backend = FakeBackend(untagged_index_with_signature(), set())
    report = run(backend)
    assert backend.deleted == [dg(2), dg(1), dg(11), dg(12)] and report.ok


def test_an_image_whose_signature_cannot_be_deleted_is_left_alone() -> None:
    backend = FakeBackend(untagged_index_with_signature(), {dg(2)})
    report = run(backend)
    assert backend.deleted == []
    assert [item for item, _ in report.failed] == [dg(2)]
    assert dict(report.skipped)[dg(1)].startswith("its signature")


def test_children_of_an_index_that_could_not_be_deleted_are_left_alone() -> None:
    backend = FakeBackend(untagged_index_with_signature(), {dg(1)})
    report = run(backend)
    assert backend.deleted == [dg(2)]
    assert set(dict(report.skipped)) == {dg(11), dg(12)}
    assert "Failed 1:" in report.render_text() and "Skipped 2:" in report.render_text()


def test_dry_run_calls_no_delete() -> None:
    backend = FakeBackend(untagged_index_with_signature(), set())
    report = run(backend, apply=False)
    assert backend.deleted == [] and "Dry run: nothing deleted" in report.render_text()
