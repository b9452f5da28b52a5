"""Explain a rebuild check's difference: read both images of each differing platform.

The published image comes from its registry, the rebuilt one from the release's OCI layout.
Only the layers whose ``diff_id`` differs are read (base layers are the same); what differs is
decided in ``release/rebuild.py``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

from shipyard.oci_layout import OciLayout
from shipyard.registries.oci import OciRegistry
from shipyard.release.image import AssembledRelease
from shipyard.release.rebuild import FileEntry, LayerPair, diff_config, diff_files, differing_layers, platform_difference
from shipyard.values.platforms import Platform

_KINDS = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "device",
    tarfile.BLKTYPE: "device",
    tarfile.FIFOTYPE: "fifo",
}


def layer_entries(data: bytes) -> list[FileEntry]:
    """The entries of a layer (gzip or plain tar), each regular file with its content hash."""
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    out = []
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        for member in tar:
            digest = ""
            if member.isreg():
                handle = tar.extractfile(member)
                digest = hashlib.sha256(handle.read() if handle else b"").hexdigest()
            out.append(
                FileEntry(
                    path="/" + member.name.removeprefix("./").lstrip("/"),
                    kind=_KINDS.get(member.type, "other"),
                    size=member.size if member.isreg() else 0,
                    mode=member.mode,
                    uid=member.uid,
                    gid=member.gid,
                    mtime=float(member.pax_headers.get("mtime", member.mtime)),
                    link=member.linkname,
                    sha256=digest,
                )
            )
    return out


def _local_blob(layout: Path, digest: str) -> bytes:
    return OciLayout(layout).read_blob(digest)


async def explain_platform(
    client: OciRegistry, repository: str, published_manifest: str, release: AssembledRelease, platform: Platform
) -> dict[str, Any]:
    """The config fields and files that differ between the published and the rebuilt image."""
    layout = Path(release.layout)
    manifest_a = await client.manifest(repository, published_manifest)
    if manifest_a is None:
        return {"platform": str(platform), "error": f"{repository}@{published_manifest} is gone", "config": [], "layers": []}
    config_a = await client.blob_json(repository, manifest_a.body["config"]["digest"])
    manifest_b: dict[str, Any] = json.loads(_local_blob(layout, release.manifests[platform].digest))
    config_b: dict[str, Any] = json.loads(_local_blob(layout, manifest_b["config"]["digest"]))
    ids_a = list(config_a.get("rootfs", {}).get("diff_ids", []))
    ids_b = list(config_b.get("rootfs", {}).get("diff_ids", []))
    layers = []
    for index in differing_layers(ids_a, ids_b):
        entries_a = (
            layer_entries(await client.blob_bytes(repository, manifest_a.body["layers"][index]["digest"])) if index < len(ids_a) else []
        )
        entries_b = layer_entries(_local_blob(layout, manifest_b["layers"][index]["digest"])) if index < len(ids_b) else []
        pair = LayerPair(
            index=index,
            published=ids_a[index] if index < len(ids_a) else None,
            rebuilt=ids_b[index] if index < len(ids_b) else None,
            files=tuple(diff_files(entries_a, entries_b)),
        )
        layers.append(pair)
    return platform_difference(str(platform), diff_config(config_a, config_b), layers)
