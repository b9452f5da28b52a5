"""The ``provenance`` step: the SLSA v1 provenance of the release (``supply_chain/provenance.py``
writes the statement), as ``provenance.json`` in the output directory; the ``sign`` step attests
it to the index in every target."""

from __future__ import annotations

import importlib.metadata
import json
from datetime import UTC, datetime

from dagger import dag

from shipyard.release.layouts import layout_builders, layout_dependencies
from shipyard.steps.context import ReleaseContext
from shipyard.supply_chain.provenance import provenance_predicate


async def run(ctx: ReleaseContext) -> None:
    """The SLSA predicate of the release as built and pushed, kept for its attestation and written out."""
    job, made = ctx.job, ctx.artifacts
    assert made.release is not None
    predicate = provenance_predicate(
        version=job.plan.version,
        source_url=job.source_url,
        sha=job.plan.annotations.get("org.opencontainers.image.revision", ""),
        dockerfile=job.build.dockerfile,
        target=job.build.target,
        build_args=job.build.build_args,
        secret_ids=job.plan.build_secrets,
        platforms={str(p): d.digest for p, d in made.release.manifests.items()},
        index=made.release.index.digest,
        source_date_epoch=job.plan.source_date_epoch,
        tool_images=job.plan.tools.model_dump(),
        shipyard_version=shipyard_version(),
        engine_version=await dag.version(),
        started=made.started,
        finished=now(),
        builders=layout_builders([(layout.name, layout.record) for layout in job.layouts])
        if job.layouts
        else [
            {"address": b.address, "platforms": [str(p) for p in b.platforms], "dagger": made.builder_versions.get(b.address, "")}
            for b in (job.split.builders if job.split is not None else ())
        ],
        inputs=layout_dependencies([(layout.name, layout.record) for layout in job.layouts]),
    )
    made.provenance = predicate
    ctx.output.write_text("provenance.json", json.dumps(predicate, indent=2, sort_keys=True) + "\n")


def shipyard_version() -> str:
    try:
        return importlib.metadata.version("shipyard")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def now() -> str:
    """The time, as the provenance states it (UTC, to the second)."""
    return datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
