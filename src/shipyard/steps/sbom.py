"""An SBOM per platform image, written by syft in one container for every platform, from the
OCI layout Shipyard assembled (nothing downloaded again from a registry).

Each platform is its own one-image layout (``oci-dir:``, the release's blobs under an
``index.json`` naming that platform's manifest), so the SBOM describes exactly the manifest
that is pushed, signed and attested: ``steps/sign.py`` attests each platform's SBOM to that
platform's own manifest and to the index, in every target, before any tag moves.

Attaching one platform's SBOM to the whole index is a known complaint about other tools: here
each platform manifest carries its own SBOM, and the index carries one attestation per platform,
so ``cosign verify-attestation --type spdxjson IMAGE:TAG`` works on the tag too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import anyio
import dagger

from shipyard.errors import GateFailed
from shipyard.release.config import SbomFormat
from shipyard.steps.context import ReleaseContext
from shipyard.steps.tools import fresh_container, run_tool_plan
from shipyard.supply_chain.toolrun import OUT_DIR, ToolCommand
from shipyard.values.platforms import Platform

LAYOUTS = "/run/shipyard/oci"


class SbomFailed(GateFailed):
    """syft failed."""


async def run(ctx: ReleaseContext) -> None:
    """The ``sbom`` step: an SBOM per platform (from the assembled layout), written to the output
    directory; the sign step attests them in every target (from the engine's copy of each)."""
    made = ctx.artifacts
    assert made.release is not None
    tools = ctx.job.plan.tools
    made.sboms = await generate_sboms(tools.syft, tools.golang, ctx.platform_layouts(), ctx.job.plan.sbom_formats)
    keys = sorted(made.sboms, key=lambda key: (str(key[0]), key[1].value))
    documents: dict[tuple[Platform, SbomFormat], str] = {}

    async def read(key: tuple[Platform, SbomFormat]) -> None:
        documents[key] = await made.sboms[key].contents()

    async with anyio.create_task_group() as group:
        for key in keys:
            group.start_soon(read, key)
    for platform, fmt in keys:
        path = ctx.output.write_text(f"sbom/{_slug(platform)}.{fmt.value}.json", documents[platform, fmt])
        if path is not None:
            made.sbom_files.append(str(path))


def _slug(platform: Platform) -> str:
    return str(platform).replace("/", "-")


async def generate_sboms(
    image: str, golang_image: str, layouts: Mapping[Platform, dagger.Directory], formats: Sequence[SbomFormat]
) -> dict[tuple[Platform, SbomFormat], dagger.File]:
    """syft on each platform's layout, every format from one scan: the documents, as files of
    syft's container (the engine holds them; read one with ``contents()``)."""
    container = fresh_container(image).with_env_variable("SYFT_CHECK_FOR_APP_UPDATE", "false")
    chains = []
    for platform, layout in layouts.items():
        slug = _slug(platform)
        container = container.with_mounted_directory(f"{LAYOUTS}/{slug}", layout)
        outputs = [arg for fmt in formats for arg in ("-o", f"{fmt.value}={OUT_DIR}/{slug}.{fmt.value}.json")]
        chains.append([ToolCommand(str(platform), ("syft", "scan", f"oci-dir:{LAYOUTS}/{slug}", *outputs, "-q"))])
    ran, results = await run_tool_plan(container, "syft", chains, golang_image, image=image)
    errors = [f"{name}: {result.reason('syft')}" for name, result in results.items() if not result.ok]
    if errors:
        raise SbomFailed(f"SBOM generation failed ({'; '.join(sorted(errors))})")
    return {(platform, fmt): ran.file(f"{OUT_DIR}/{_slug(platform)}.{fmt.value}.json") for platform in layouts for fmt in formats}
