"""What a registry holds, as cleanup sees it: tags, manifests, and which manifests are another
image's artifacts (cosign signatures, attestations, SBOMs, OCI referrers). Pure: no I/O.

Backends read a repository into an :class:`Inventory`; the planner (``retention/planner.py``) decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime

# Tags that name another image's artifacts: cosign's sha256-<hex>.sig / .att / .sbom, and the
# OCI 1.1 referrers fallback sha256-<hex> (an index listing the manifests whose subject is it).
ARTIFACT_TAG = re.compile(r"(sha256)-([0-9a-f]{64})(?:\.(sig|att|sbom))?")
_ARTIFACT_KIND = {"sig": "signature", "att": "attestation", "sbom": "sbom", None: "referrers"}
_ARTIFACT_TYPES = {"sig": "signature", "att": "attestation", "in-toto": "attestation", "sbom": "sbom", "spdx": "sbom", "cyclonedx": "sbom"}


def artifact_tag(tag: str) -> tuple[str, str] | None:
    """``(subject digest, kind)`` for a tag that names another image's artifacts, else ``None``."""
    match = ARTIFACT_TAG.fullmatch(tag)
    if not match:
        return None
    return f"{match.group(1)}:{match.group(2)}", _ARTIFACT_KIND[match.group(3)]


def artifact_kind(artifact_type: str) -> str:
    """A readable kind for an OCI ``artifactType`` (e.g. cosign's ``...artifact.sig.v1+json``)."""
    lowered = artifact_type.lower()
    return next((kind for key, kind in _ARTIFACT_TYPES.items() if key in lowered), "referrer")


def with_listed_referrers(inv: Inventory) -> Inventory:
    """Manifests listed by a referrers fallback index are artifacts of the same subject."""
    manifests = dict(inv.manifests)
    for index in inv.manifests.values():
        if index.artifact != "referrers" or not index.subject:
            continue
        for child in index.children:
            listed = manifests.get(child) or Manifest(child)
            if not listed.artifact:
                manifests[child] = replace(listed, subject=index.subject, artifact=listed.artifact or "referrer")
    return replace(inv, manifests=manifests)


@dataclass(frozen=True)
class Manifest:
    """One manifest in a repository, as a backend read it."""

    digest: str
    media_type: str = ""
    created: datetime | None = None
    children: tuple[str, ...] = ()  # platform manifests of an index
    subject: str | None = None  # set for signatures/attestations/SBOMs: the image they describe
    artifact: str | None = None  # "signature", "attestation" or "sbom"
    tag: str | None = None  # an artifact's own tag (sha256-<subject>.sig), for tag-deleting backends


@dataclass(frozen=True)
class Inventory:
    """A repository's tags (image tags only: cosign artifact tags are folded into manifests)."""

    repository: str
    tags: dict[str, str]  # tag -> digest
    manifests: dict[str, Manifest]
    deletes_tags_individually: bool = False  # Docker Hub deletes tags; OCI registries delete digests

    def created(self, digest: str) -> datetime | None:
        manifest = self.manifests.get(digest)
        return manifest.created if manifest else None
