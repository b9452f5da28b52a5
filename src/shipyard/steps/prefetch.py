"""Beside the steps, while the build runs: the tool images this release's steps will run, pulled
(and toolrun built) ahead, so the supply-chain steps start at once. Cancelled once the release is done."""

from __future__ import annotations

from shipyard.steps.context import ReleaseContext
from shipyard.steps.tools import pull_ahead


async def run(ctx: ReleaseContext) -> None:
    """Pull the images of the enabled tool steps (cosign, syft, trivy and its database)."""
    plan = ctx.job.plan
    tools = plan.tools
    images = [tools.cosign if ctx.job.signer is not None else ""]
    images += [tools.syft if plan.sbom_formats else ""]
    images += [tools.trivy, tools.trivy_db] if plan.scan is not None else []
    if any(images):
        await pull_ahead(images, tools.golang)
