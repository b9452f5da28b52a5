"""The release's image documents: normalised configs, platform manifests and the one index.

The engine's own multi-platform publish orders the index differently from run to run, stamps
configs with the wall-clock build time and leaves ``variant`` out of arm/v7 configs. Shipyard
writes these documents itself, from the exported platform images, so the same source, version
and ``SOURCE_DATE_EPOCH`` always give the same bytes and therefore the same digests.

Pure: JSON documents in, JSON documents and bytes out. Reading and rewriting layer blobs is
``steps/assemble.py``'s job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shipyard.tagging.labels import created_timestamp
from shipyard.values.platforms import Platform

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"

# Docker schema 2 media types as the engine may export them, and their OCI equivalents.
_TO_OCI = {
    "application/vnd.docker.distribution.manifest.v2+json": OCI_MANIFEST,
    "application/vnd.docker.distribution.manifest.list.v2+json": OCI_INDEX,
    "application/vnd.docker.container.image.v1+json": OCI_CONFIG,
    "application/vnd.docker.image.rootfs.diff.tar.gzip": OCI_LAYER_GZIP,
    "application/vnd.docker.image.rootfs.diff.tar": OCI_LAYER,
}


def oci_media_type(media_type: str) -> str:
    """The OCI media type for a (possibly Docker) media type; OCI ones pass through."""
    return _TO_OCI.get(media_type, media_type)


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """The one serialisation Shipyard publishes: sorted keys, no insignificant white space."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor (media type, digest, size, optional platform and annotations)."""

    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, media_type: str, data: bytes, **extra: Any) -> Descriptor:
        return cls(media_type=media_type, digest=sha256_digest(data), size=len(data), **extra)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.platform is not None:
            out["platform"] = platform_dict(self.platform)
        if self.annotations:
            out["annotations"] = dict(sorted(self.annotations.items()))
        return out


@dataclass(frozen=True)
class AssembledRelease:
    """The release as an OCI layout (on local disk): the index and each platform's manifest."""

    layout: str  # the layout's directory
    index: Descriptor
    manifests: Mapping[Platform, Descriptor]
    size: int  # bytes of unique content (every blob once)


def platform_dict(platform: Platform) -> dict[str, str]:
    out = {"architecture": platform.architecture, "os": platform.os}
    if platform.variant:
        out["variant"] = platform.variant
    return out


def platform_key(platform: Platform) -> tuple[str, str, str]:
    """The fixed order of manifests in an index: by os, architecture, variant."""
    return (platform.os, platform.architecture, platform.variant)


def normalise_config(config: Mapping[str, Any], *, platform: Platform, epoch: int, diff_ids: Iterable[str]) -> dict[str, Any]:
    """The image config with build times set to ``epoch``, the platform fields made to agree
    with ``platform`` (arm/v7 configs carry ``variant: v7``) and ``diff_ids`` of the final layers."""
    created = created_timestamp(epoch)
    out = dict(config)
    out["created"] = created
    out["history"] = [_normalise_history(entry, created) for entry in config.get("history", [])]
    out.update(platform_dict(platform))
    if not platform.variant:
        out.pop("variant", None)
    rootfs = dict(config.get("rootfs") or {"type": "layers"})
    rootfs["diff_ids"] = list(diff_ids)
    out["rootfs"] = rootfs
    return out


def _normalise_history(entry: Mapping[str, Any], created: str) -> dict[str, Any]:
    """A history entry with a reproducible time and text. The engine records base layers as
    ``pulled from <ref>`` naming whichever image its cache saw those layers in first (another
    build stage's image, when they share layers), so that text is not kept."""
    out = {**entry, "created": created}
    if str(out.get("created_by", "")).startswith("pulled from "):
        out["created_by"] = "base image layers"
    return out


def image_manifest(config: Descriptor, layers: Iterable[Descriptor], annotations: Mapping[str, str]) -> dict[str, Any]:
    """An OCI image manifest for one platform."""
    out: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.to_dict(),
        "layers": [layer.to_dict() for layer in layers],
    }
    if annotations:
        out["annotations"] = dict(sorted(annotations.items()))
    return out


def image_index(manifests: Iterable[Descriptor], annotations: Mapping[str, str]) -> dict[str, Any]:
    """The release's OCI index: one entry per platform, in the fixed platform order."""
    entries = list(manifests)
    missing = [m.digest for m in entries if m.platform is None]
    if missing:
        raise ValueError(f"index entries need a platform: {missing}")
    platforms = [m.platform for m in entries]
    if len(set(platforms)) != len(platforms):
        raise ValueError(f"two manifests for one platform: {platforms}")
    entries.sort(key=lambda m: platform_key(m.platform))  # type: ignore[arg-type]
    out: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [m.to_dict() for m in entries]}
    if annotations:
        out["annotations"] = dict(sorted(annotations.items()))
    return out


def platform_layout_index(manifest: Descriptor, platform: Platform) -> bytes:
    """The ``index.json`` of a one-image OCI layout over a release's blobs: the platform's
    manifest alone, as tools that read one image from a layout (syft ``oci-dir:``, Trivy
    ``--input``) want it."""
    entry = Descriptor(manifest.media_type, manifest.digest, manifest.size, platform=platform)
    return canonical_json(image_index([entry], {}))
