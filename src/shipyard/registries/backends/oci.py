"""Cleanup over the generic OCI distribution API (any registry with deletes enabled)."""

from __future__ import annotations

from shipyard.registries.oci import OciRegistry, read_inventory
from shipyard.retention.inventory import Inventory
from shipyard.values.refs import parse_reference


class OciCleanupBackend:
    """Deletes by manifest digest (``DELETE /v2/<name>/manifests/<digest>``)."""

    def __init__(self, registry: OciRegistry) -> None:
        self.registry = registry

    async def inventory(self, repository: str) -> Inventory:
        return await read_inventory(self.registry, repository)

    async def delete(self, repository: str, item: str) -> None:
        repo = parse_reference(f"{self.registry.registry}/{repository}").repository
        await self.registry.delete_manifest(repo, item)
