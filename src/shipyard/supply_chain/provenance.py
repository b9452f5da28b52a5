"""The SLSA v1 provenance predicate of a release (pure: every value, times included, is passed in).

cosign wraps it in an in-toto statement whose subject is the digest it is attested to (the
index). Build arguments are recorded; build secrets never are (only their ids).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shipyard.errors import InvalidInput
from shipyard.values.refs import Digest, parse_reference

PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://github.com/shipyard-release/shipyard/publish/v1"
BUILDER_ID = "https://github.com/shipyard-release/shipyard"


def provenance_predicate(
    *,
    version: str | None,
    source_url: str,
    sha: str,
    dockerfile: str,
    target: str,
    build_args: Mapping[str, str],
    secret_ids: Sequence[str],
    platforms: Mapping[str, str],  # platform -> manifest digest
    index: str,
    source_date_epoch: int,
    tool_images: Mapping[str, str],
    shipyard_version: str,
    engine_version: str,
    started: str,
    finished: str,
    builders: Sequence[Mapping[str, Any]] = (),
    inputs: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """``buildDefinition`` (what was built from what) and ``runDetails`` (by whom, when).
    ``inputs``: more resolved dependencies (``publish --from``: the layouts' platform images)."""
    source: dict[str, Any] = {"uri": source_url or "unknown"}
    if sha:
        source["digest"] = {"gitCommit": sha}
    dependencies: list[dict[str, Any]] = []
    if source_url and sha:
        dependencies.append({"uri": f"git+{source_url}@{sha}", "digest": {"gitCommit": sha}})
    for name, ref in sorted(tool_images.items()):
        if ref:
            entry: dict[str, Any] = {"uri": ref, "name": name}
            pinned = _pinned(ref)
            if pinned is not None:
                entry["digest"] = {pinned.algorithm: pinned.hex}
            dependencies.append(entry)
    dependencies.extend(dict(i) for i in inputs)
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "version": version,
                "source": source,
                "dockerfile": dockerfile,
                "target": target,
                "buildArgs": dict(sorted(build_args.items())),
                "buildSecrets": sorted(secret_ids),
                "platforms": sorted(platforms),
            },
            "internalParameters": {"sourceDateEpoch": source_date_epoch, **({"builders": list(builders)} if builders else {})},
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": {"id": BUILDER_ID, "version": {"shipyard": shipyard_version, "dagger": engine_version}},
            "metadata": {"invocationId": f"{index}", "startedOn": started, "finishedOn": finished},
            "byproducts": [{"name": p, "digest": {"sha256": Digest.parse(d).hex}} for p, d in sorted(platforms.items())],
        },
    }


def _pinned(reference: str) -> Digest | None:
    """The ``sha256`` digest a tool image reference pins, if it pins one."""
    try:
        digest = parse_reference(reference, what="tool image").digest
    except InvalidInput:
        return None
    return Digest.parse(digest) if digest and digest.startswith("sha256:") else None
