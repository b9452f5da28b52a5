"""Trivy on every platform image of the release, in one container with its DB mounted once,
before tags move.

``publish`` scans the OCI layout Shipyard assembled (each platform a one-image layout, as
syft reads it: ``trivy image --input``), so nothing is downloaded again and the scan sees the
very manifests that are pushed. ``verify`` scans what the registry serves, by digest, as a
consumer would. (``trivy sbom`` on syft's SPDX document was the other way to scan without a
download; it finds no operating system in it, so it misses every OS package's advisory.)

The gate's decision is ``gates/scan.py``'s. With a DB image configured (``trivy_db`` in the tool
images: air-gapped users, the test stack) Trivy runs offline against it; otherwise it downloads
its DB as usual, once for every platform.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import dagger
from dagger import dag

from shipyard.errors import GateFailed
from shipyard.gates.scan import evaluate_gate
from shipyard.release.image import Descriptor
from shipyard.reports.sarif import merge_trivy_sarif
from shipyard.steps.context import ReleaseContext
from shipyard.steps.tools import RegistryAccess, fresh_container, run_tool_plan, tool_container
from shipyard.supply_chain.toolrun import OUT_DIR, ToolCommand
from shipyard.values.platforms import Platform

CACHE = "/run/shipyard/trivy"
LAYOUTS = "/run/shipyard/oci"


class ScanFailed(GateFailed):
    """Trivy could not scan a platform image."""


async def run(ctx: ReleaseContext) -> None:
    """The ``scan`` step: Trivy on every platform (from the assembled layout); the gate fails the
    release (no tag moves) naming what failed it."""
    plan, made = ctx.job.plan, ctx.artifacts
    assert made.release is not None and plan.scan is not None
    repositories = [t.repository for t in plan.active_targets]
    tools = plan.tools
    reports = await scan_layouts(tools.trivy, tools.trivy_db, tools.golang, ctx.platform_layouts())
    for platform, report in reports.items():
        ctx.output.write_text(f"scan/{platform.replace('/', '-')}.trivy.json", json.dumps(report, indent=2))
    made.scan = evaluate_gate(reports, plan.scan)
    if ctx.output.root is not None:
        references = {str(p): f"{repositories[0]}@{d.digest}" for p, d in made.release.manifests.items()}
        log = merge_trivy_sarif(reports, references, ignored=plan.scan.ignore, trivy_version=_trivy_version(reports))
        made.sarif = str(ctx.output.write_text("scan/trivy.sarif", json.dumps(log, indent=2) + "\n"))
    if not made.scan.passed:
        raise GateFailed("scan gate failed: " + "; ".join(f.describe() for f in made.scan.failing))


def _trivy_version(reports: Mapping[str, Mapping[str, Any]]) -> str:
    for report in reports.values():
        version = (report.get("Trivy") or {}).get("Version")
        if version:
            return str(version)
    return ""


def _slug(platform: Platform) -> str:
    return str(platform).replace("/", "-")


async def scan_layouts(
    image: str, db_image: str, golang_image: str, layouts: Mapping[Platform, dagger.Directory]
) -> dict[str, dict[str, Any]]:
    """One Trivy JSON report per platform, from each platform's layout."""
    container = fresh_container(image)
    targets = {}
    for platform, layout in layouts.items():
        container = container.with_mounted_directory(f"{LAYOUTS}/{_slug(platform)}", layout)
        targets[platform] = ("--input", f"{LAYOUTS}/{_slug(platform)}")
    return await _scan(container, image, db_image, golang_image, targets)


async def scan_release(
    image: str, db_image: str, golang_image: str, access: RegistryAccess, repository: str, manifests: Mapping[Platform, Descriptor]
) -> dict[str, dict[str, Any]]:
    """One Trivy JSON report per platform, from ``repository`` by digest."""
    insecure = ("--insecure",) if access.insecure([repository]) else ()
    targets = {p: (*insecure, access.inside(f"{repository}@{d.digest}")) for p, d in manifests.items()}
    return await _scan(tool_container(image, access), image, db_image, golang_image, targets)


async def _scan(
    container: dagger.Container, image: str, db_image: str, golang_image: str, targets: Mapping[Platform, tuple[str, ...]]
) -> dict[str, dict[str, Any]]:
    # With the DB given, platforms are scanned at once, every Trivy reading the one DB mount
    # (its scan cache in memory: the on-disk one is locked by each run). Without it, the first
    # command downloads the DB once and the platforms are scanned after it, in turn.
    args = ["trivy", "image", "--cache-dir", CACHE, "--scanners", "vuln", "--format", "json", "--quiet"]
    chains: list[list[ToolCommand]] = []
    if db_image:
        container = container.with_mounted_directory(f"{CACHE}/db", dag.container().from_(db_image).directory("/db"))
        args += ["--skip-db-update", "--skip-java-db-update", "--offline-scan", "--cache-backend", "memory"]
    else:
        chains.append([ToolCommand("trivy DB", ("trivy", "image", "--cache-dir", CACHE, "--download-db-only", "--quiet"))])
        args += ["--skip-db-update"]
    for platform, target in targets.items():
        command = ToolCommand(str(platform), (*args, *target), stdout=f"{OUT_DIR}/{_slug(platform)}.json")
        if db_image:
            chains.append([command])
        else:
            chains[0].append(command)
    what = f"{image} (or the Trivy DB image {db_image})" if db_image else image
    ran, results = await run_tool_plan(container, "trivy", chains, golang_image, image=what)
    reports: dict[str, dict[str, Any]] = {}
    errors = [f"{name}: {result.reason('trivy')}" for name, result in results.items() if not result.ok]
    for platform in targets:
        if not results[str(platform)].ok:
            continue
        try:
            reports[str(platform)] = json.loads(await ran.file(f"{OUT_DIR}/{_slug(platform)}.json").contents())
        except json.JSONDecodeError:
            errors.append(f"{platform}: trivy printed no JSON report")
    if errors:
        raise ScanFailed(f"scanning failed ({'; '.join(sorted(errors))})")
    return reports
