"""Write a reproducible OCI image layout from directory trees, for ci/lib/images.sh.

    python3 images_oci.py SPEC.json LAYOUT_DIR

SPEC describes one image, or several platforms of one image (pushed as an index):

    {"images": [{"platform": {"os": "linux", "architecture": "arm", "variant": "v7"},
                 "layers": ["/rootfs/armhf", "/extra"],
                 "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"]}}],
     "index": true}

Each layer is the tree under a directory, stored as tar+gzip with sorted entries, uid/gid 0,
mtime 0 and no gzip timestamp, so the same trees always give the same digests. LAYOUT_DIR's
index.json names exactly one entry (the image manifest, or the image index when "index" is
true), which is what `crane push LAYOUT_DIR REF` pushes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import stat
import sys
import tarfile
from pathlib import Path
from typing import Any

EPOCH = "1970-01-01T00:00:00Z"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


class Layout:
    def __init__(self, root: Path) -> None:
        self.blobs = root / "blobs" / "sha256"
        self.blobs.mkdir(parents=True, exist_ok=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        self.root = root

    def put(self, data: bytes, media_type: str) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        (self.blobs / digest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    def put_json(self, doc: dict[str, Any], media_type: str) -> dict[str, Any]:
        return self.put(canonical(doc), media_type)

    def layer(self, tree: Path) -> tuple[dict[str, Any], str]:
        """Store TREE as a layer; return its descriptor and its diff_id (digest of the plain tar)."""
        tmp = self.blobs / "layer.tmp"
        plain, packed = hashlib.sha256(), hashlib.sha256()
        with tmp.open("wb") as raw:
            sink = HashingWriter(raw, packed)
            with gzip.GzipFile(filename="", mode="wb", fileobj=sink, mtime=0, compresslevel=6) as gz:
                with tarfile.open(fileobj=HashingWriter(gz, plain), mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    add_tree(tar, tree)
        digest = packed.hexdigest()
        tmp.rename(self.blobs / digest)
        return {"mediaType": MT_LAYER, "digest": f"sha256:{digest}", "size": sink.size}, f"sha256:{plain.hexdigest()}"


class HashingWriter:
    """A write-only file object that hashes (and counts) what passes through it."""

    def __init__(self, inner: Any, digest: Any) -> None:
        self.inner, self.digest, self.size = inner, digest, 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        self.inner.write(data)
        return len(data)

    def flush(self) -> None:
        self.inner.flush()


def canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def add_tree(tar: tarfile.TarFile, tree: Path) -> None:
    """Add every entry under TREE in sorted order (parents first), normalised."""
    seen: dict[tuple[int, int], str] = {}  # (dev, inode) -> first name, for hard links

    def visit(path: Path, name: str) -> None:
        st = path.lstat()
        info = tarfile.TarInfo(name)
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        if stat.S_ISDIR(st.st_mode):
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
            for child in sorted(os.listdir(path)):
                visit(path / child, f"{name}/{child}")
        elif stat.S_ISLNK(st.st_mode):
            info.type = tarfile.SYMTYPE
            info.linkname = os.readlink(path)
            tar.addfile(info)
        elif stat.S_ISREG(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in seen:
                info.type = tarfile.LNKTYPE
                info.linkname = seen[key]
                tar.addfile(info)
                return
            seen[key] = name
            info.size = st.st_size
            with path.open("rb") as f:
                tar.addfile(info, f)
        else:
            raise SystemExit(f"images_oci: {path}: only directories, files and symlinks go into a layer")

    for child in sorted(os.listdir(tree)):
        visit(tree / child, child)


def build_image(layout: Layout, spec: dict[str, Any]) -> dict[str, Any]:
    layers, diff_ids = [], []
    for tree in spec["layers"]:
        desc, diff_id = layout.layer(Path(tree))
        layers.append(desc)
        diff_ids.append(diff_id)
    platform = spec["platform"]
    config = {
        **platform,
        "created": EPOCH,
        "config": spec.get("config", {}),
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": EPOCH, "created_by": f"shipyard ci/lib/images.sh: {Path(t).name}"} for t in spec["layers"]],
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": layout.put_json(config, MT_CONFIG),
        "layers": layers,
    }
    return {**layout.put_json(manifest, MT_MANIFEST), "platform": platform}


def main(spec_path: str, layout_dir: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    layout = Layout(Path(layout_dir))
    manifests = [build_image(layout, image) for image in spec["images"]]
    if spec.get("index"):
        top = layout.put_json({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": manifests}, MT_INDEX)
    else:
        (top,) = manifests
        top = {k: v for k, v in top.items() if k != "platform"}
    (layout.root / "index.json").write_bytes(canonical({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [top]}))
    print(top["digest"])


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
