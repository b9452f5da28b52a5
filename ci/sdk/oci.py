#!/usr/bin/env python3
"""Deterministic single-platform OCI images from directories, for the stack's SDK content.

The engine reads its builtin SDK images from a local OCI content store (blobs/sha256/<hex>),
and the Python runtime pulls its base image from the stack's mirror registry. Both are made
here from plain directories, with no container tool: each directory becomes one gzip layer
whose entries are sorted, whose times are clamped to SOURCE_DATE_EPOCH and whose owners are
numeric, so the same inputs always give the same manifest digest (the engine caches by it).

  oci.py image --store DIR --layer ROOT [--layer ROOT...] [--env K=V...] [--workdir W]
               [--entrypoint JSON] [--cmd JSON] [--arch ARCH] [--name NAME]
      write the layers, config and manifest into the content store DIR; print the
      manifest digest. A layer packed once is remembered in ROOT.layer.json, so a directory
      shared by two images (the Debian rootfs) is packed once.
  oci.py push --store DIR --manifest DIGEST --to HOST:PORT/REPO:TAG
      push that image to a plain-HTTP registry (the stack's loopback mirror) and check
      that the registry serves it under the same digest.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import stat
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


class HashingWriter:
    """A write-only file that hashes and counts what passes through it."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out, self.sha, self.size = out, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()


def blob_path(store: Path, digest: str) -> Path:
    algo, hexdigest = digest.split(":", 1)
    return store / "blobs" / algo / hexdigest


def put_blob(store: Path, data: bytes) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = blob_path(store, digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.rename(path)
    return {"digest": digest, "size": len(data)}


def walk(root: Path) -> list[Path]:
    """Every path under root, parents before children, siblings in byte order."""
    out: list[Path] = []

    def visit(directory: Path) -> None:
        for name in sorted(os.listdir(directory), key=os.fsencode):
            path = directory / name
            out.append(path)
            if path.is_dir() and not path.is_symlink():
                visit(path)

    visit(root)
    return out


def write_layer(store: Path, root: Path, epoch: int) -> tuple[dict[str, Any], str]:
    """Pack root into a gzip layer in the store; return its descriptor and diff ID."""
    store.joinpath("blobs", "sha256").mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=store / "blobs" / "sha256", suffix=".tmp", delete=False) as tmp:
        compressed = HashingWriter(tmp)
        with gzip.GzipFile(filename="", fileobj=compressed, mode="wb", compresslevel=6, mtime=0) as gz:  # type: ignore[arg-type]
            raw = HashingWriter(gz)  # type: ignore[arg-type]
            with tarfile.open(fileobj=raw, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                for path in walk(root):
                    arcname = path.relative_to(root).as_posix()
                    info = tar.gettarinfo(str(path), arcname)
                    if info.type not in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE):
                        raise SystemExit(f"oci.py: {path}: only files, directories and links belong in a layer")
                    info.mtime = min(int(info.mtime), epoch)
                    info.uname = info.gname = ""
                    info.mode = stat.S_IMODE(path.lstat().st_mode)
                    if info.isreg():
                        with path.open("rb") as f:
                            tar.addfile(info, f)
                    else:
                        tar.addfile(info)
    digest = "sha256:" + compressed.sha.hexdigest()
    final = blob_path(store, digest)
    if final.exists():
        os.unlink(tmp.name)
    else:
        os.chmod(tmp.name, 0o644)
        os.rename(tmp.name, final)
    return {"mediaType": LAYER, "digest": digest, "size": compressed.size}, "sha256:" + raw.sha.hexdigest()


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def cmd_image(args: argparse.Namespace) -> None:
    store = Path(args.store)
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    layers, diff_ids = [], []
    for root in args.layer:
        memo = Path(f"{root}.layer.json")
        known = json.loads(memo.read_text()) if memo.exists() else None
        if known and blob_path(store, known["desc"]["digest"]).exists():
            desc, diff_id = known["desc"], known["diff_id"]
        else:
            desc, diff_id = write_layer(store, Path(root), epoch)
            memo.write_text(json.dumps({"desc": desc, "diff_id": diff_id}))
        layers.append(desc)
        diff_ids.append(diff_id)
    config: dict[str, Any] = {"Env": args.env}
    if args.workdir:
        config["WorkingDir"] = args.workdir
    if args.entrypoint:
        config["Entrypoint"] = json.loads(args.entrypoint)
    if args.cmd:
        config["Cmd"] = json.loads(args.cmd)
    image = {
        "architecture": args.arch,
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"shipyard ci/sdk/oci.py: {args.name}"} for _ in layers],
    }
    config_desc = put_blob(store, canonical(image)) | {"mediaType": CONFIG}
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST, "config": config_desc, "layers": layers}
    if args.name:
        manifest["annotations"] = {"org.opencontainers.image.title": args.name}
    print(put_blob(store, canonical(manifest))["digest"])


def request(method: str, url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:
            return resp.status, resp.headers
    except urllib.error.HTTPError as err:
        if method == "HEAD" and err.code == 404:
            return 404, err.headers
        raise SystemExit(f"oci.py: {method} {url} failed: {err.code} {err.read()[:300]!r}") from None


def cmd_push(args: argparse.Namespace) -> None:
    store = Path(args.store)
    host, _, rest = args.to.partition("/")
    repo, _, tag = rest.rpartition(":")
    base = f"http://{host}/v2/{repo}"
    manifest_bytes = blob_path(store, args.manifest).read_bytes()
    manifest = json.loads(manifest_bytes)
    for desc in [manifest["config"], *manifest["layers"]]:
        if request("HEAD", f"{base}/blobs/{desc['digest']}")[0] == 200:
            continue
        _, headers = request("POST", f"{base}/blobs/uploads/", b"")
        location = headers["Location"]
        if location.startswith("/"):
            location = f"http://{host}{location}"
        sep = "&" if "?" in location else "?"
        data = blob_path(store, desc["digest"]).read_bytes()
        request("PUT", f"{location}{sep}digest={desc['digest']}", data, {"Content-Type": "application/octet-stream"})
    request("PUT", f"{base}/manifests/{tag}", manifest_bytes, {"Content-Type": MANIFEST})
    _, headers = request("HEAD", f"{base}/manifests/{tag}", headers={"Accept": MANIFEST})
    served = headers.get("Docker-Content-Digest")
    if served != args.manifest:
        raise SystemExit(f"oci.py: {args.to} serves {served}, expected {args.manifest}")
    print(f"{args.to}@{served}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    image = sub.add_parser("image")
    image.add_argument("--store", required=True)
    image.add_argument("--layer", action="append", required=True)
    image.add_argument("--env", action="append", default=[])
    image.add_argument("--workdir")
    image.add_argument("--entrypoint")
    image.add_argument("--cmd")
    image.add_argument("--arch", default="amd64")
    image.add_argument("--name", default="")
    image.set_defaults(func=cmd_image)
    push = sub.add_parser("push")
    push.add_argument("--store", required=True)
    push.add_argument("--manifest", required=True)
    push.add_argument("--to", required=True)
    push.set_defaults(func=cmd_push)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    sys.exit(main())
