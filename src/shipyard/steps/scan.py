"""Trivy on every platform image of the release (by digest, in its tool container), before tags move.

The gate's decision is ``plan/scan.py``'s. With a DB image configured (``trivy_db`` in the tool
images: air-gapped users, the test stack) Trivy runs offline against it; otherwise it downloads
its DB as usual.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import anyio
import dagger
from dagger import dag

from shipyard.plan.errors import GateFailed
from shipyard.plan.image import Descriptor
from shipyard.plan.platforms import Platform
from shipyard.steps.tools import RegistryAccess, last_line, tool_container, tool_unavailable

CACHE = "/run/shipyard/trivy"


class ScanFailed(GateFailed):
    """Trivy could not scan a platform image; no tag was moved."""


async def scan_release(
    image: str, db_image: str, access: RegistryAccess, repository: str, manifests: Mapping[Platform, Descriptor]
) -> dict[str, dict[str, Any]]:
    """One Trivy JSON report per platform."""
    reports: dict[str, dict[str, Any]] = {}
    errors: list[str] = []
    insecure = access.insecure([repository.split("/", 1)[0]])

    async def one(platform: Platform, descriptor: Descriptor) -> None:
        container = tool_container(image, access)
        args = ["trivy", "image", "--cache-dir", CACHE, "--scanners", "vuln", "--format", "json", "--quiet"]
        if db_image:
            container = container.with_mounted_directory(f"{CACHE}/db", dag.container().from_(db_image).directory("/db"))
            args += ["--skip-db-update", "--skip-java-db-update", "--offline-scan"]
        if insecure:
            args += ["--insecure"]
        reference = access.inside(f"{repository}@{descriptor.digest}")
        try:
            out = await container.with_exec([*args, reference], use_entrypoint=False).stdout()
            reports[str(platform)] = json.loads(out)
        except dagger.ExecError as exc:
            errors.append(f"{platform}: {last_line(exc, 'trivy')}")
        except dagger.QueryError as exc:
            raise tool_unavailable(f"{image} (or the Trivy DB image {db_image})" if db_image else image, exc) from None
        except json.JSONDecodeError:
            errors.append(f"{platform}: trivy printed no JSON report")

    async with anyio.create_task_group() as group:
        for platform, descriptor in manifests.items():
            group.start_soon(one, platform, descriptor)
    if errors:
        raise ScanFailed(f"scanning failed ({'; '.join(sorted(errors))}); no tag was moved on any registry")
    return reports
