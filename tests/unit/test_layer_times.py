"""Layer normalisation: the layers the build wrote carry the release's time only (whatever the
engine's cache held), base-image layers stay byte for byte."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

from shipyard.steps.assemble import LayerCache, assemble_release, built_by_the_build
from shipyard.values.platforms import Platform

EPOCH = 1700086400
STEP = "buildkit.dockerfile.v0"


def test_layers_written_by_dockerfile_steps_are_the_builds() -> None:
    config = {
        "history": [
            {"created_by": "# debian.sh --arch 'amd64' out/ 'bookworm'", "comment": "debuerreotype 0.15"},
            {"created_by": 'CMD ["bash"]', "empty_layer": True},
            {"created_by": "RUN /bin/sh -c make # buildkit", "comment": STEP},
            {"created_by": "EXPOSE 8080", "comment": STEP, "empty_layer": True},
            {"created_by": "COPY app /app # buildkit", "comment": STEP},
        ]
    }
    assert built_by_the_build(config, 3) == [False, True, True]


def test_layers_the_engine_records_as_pulled_are_a_base_images() -> None:
    config = {
        "history": [
            {"created_by": "pulled from 127.0.0.1:5002/base@sha256:…", "comment": "buildkit.exporter.image.v0"},
            {"created_by": "mkdir /etc/app", "comment": "buildkit.exporter.image.v0"},
        ]
    }
    assert built_by_the_build(config, 2) == [False, True]


def test_a_history_that_does_not_account_for_every_layer_rewrites_them_all() -> None:
    assert built_by_the_build({"history": [{"comment": "debuerreotype"}]}, 2) == [True, True]
    assert built_by_the_build({}, 1) == [True]


def _layer(files: dict[str, int]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, mtime in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = 4, mtime
            if mtime % 2:
                info.pax_headers = {"atime": str(mtime + 0.5), "ctime": str(mtime + 0.25)}
            tar.addfile(info, io.BytesIO(b"data"))
    return gzip.compress(raw.getvalue(), mtime=0)


def _export(path: Path, layers: list[bytes], history: list[dict[str, Any]]) -> Path:
    """An exported image as the engine writes it: an OCI layout in a tarball."""
    blobs: dict[str, bytes] = {}

    def put(data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return digest

    diff_ids = ["sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest() for layer in layers]
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": history}
    config_bytes = json.dumps(config).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config_bytes), "size": len(config_bytes)},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(layer), "size": len(layer)} for layer in layers
        ],
    }
    manifest_bytes = json.dumps(manifest).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [{"mediaType": manifest["mediaType"], "digest": put(manifest_bytes), "size": len(manifest_bytes)}],
    }
    with tarfile.open(path, "w") as tar:
        for name, data in [("index.json", json.dumps(index).encode()), *((f"blobs/sha256/{d[7:]}", b) for d, b in blobs.items())]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


HISTORY = [
    {"created_by": "pulled from base", "comment": "buildkit.exporter.image.v0"},
    {"created_by": "RUN make # buildkit", "comment": STEP},
]


def _release(tmp_path: Path, name: str, step_time: int) -> tuple[str, list[dict[str, Any]], Path]:
    base = _layer({"bin/sh": 1600000000, "etc/debian_version": 1600000001})
    built = _layer({"app/out": step_time, "app/log": step_time + 1})
    tarball = _export(tmp_path / f"{name}.tar", [base, built], HISTORY)
    layout = tmp_path / name / "layout"
    layout.parent.mkdir()
    release = assemble_release({Platform("linux", "amd64"): tarball}, epoch=EPOCH, annotations={}, layout=layout)
    manifest = json.loads((layout / "blobs" / "sha256" / release.manifests[Platform("linux", "amd64")].digest[7:]).read_bytes())
    return release.index.digest, manifest["layers"], layout


def test_a_step_cached_from_an_earlier_commit_gives_the_digest_of_a_fresh_build(tmp_path: Path) -> None:
    cached, cached_layers, layout = _release(tmp_path, "cached", EPOCH - 86400)  # built for the commit before
    fresh, _, _ = _release(tmp_path, "fresh", EPOCH + 3600)  # built after the commit
    assert cached == fresh
    base = _layer({"bin/sh": 1600000000, "etc/debian_version": 1600000001})
    assert cached_layers[0]["digest"] == "sha256:" + hashlib.sha256(base).hexdigest()  # the base layer, byte for byte
    built = (layout / "blobs" / "sha256" / cached_layers[1]["digest"][7:]).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(built))) as tar:
        members = tar.getmembers()
    assert [(m.name, m.mtime) for m in members] == [("app/out", EPOCH), ("app/log", EPOCH)]
    assert all(not {"atime", "ctime", "mtime"} & set(m.pax_headers) for m in members)


def test_after_a_cache_import_the_base_images_layers_are_known_by_their_diff_ids(tmp_path: Path) -> None:
    """An imported cache names every layer ``imported sha256:…``: the base image's own diff_ids
    (``steps/base.py``) still tell its layers from the build's."""
    base = _layer({"bin/sh": 1600000000})
    built = _layer({"app/out": EPOCH - 86400})
    imported = [{"created_by": f"imported sha256:{i}", "comment": "buildkit.exporter.image.v0"} for i in "01"]
    assert built_by_the_build({"history": imported}, 2) == [True, True]  # the history alone cannot tell
    tarball = _export(tmp_path / "img.tar", [base, built], imported)
    base_diff_id = "sha256:" + hashlib.sha256(gzip.decompress(base)).hexdigest()
    layout = tmp_path / "out" / "layout"
    layout.parent.mkdir()
    amd64 = Platform("linux", "amd64")
    release = assemble_release({amd64: tarball}, epoch=EPOCH, annotations={}, layout=layout, base_layers={amd64: [base_diff_id]})
    manifest = json.loads((layout / "blobs" / "sha256" / release.manifests[amd64].digest[7:]).read_bytes())
    assert manifest["layers"][0]["digest"] == "sha256:" + hashlib.sha256(base).hexdigest()
    assert manifest["layers"][1]["digest"] != "sha256:" + hashlib.sha256(built).hexdigest()


def test_a_layer_normalised_before_is_read_back_from_the_cache_byte_for_byte(tmp_path: Path) -> None:
    """The cache (by the layer as built, the epoch and zlib) gives what normalising again gives;
    a damaged entry is dropped and made again; a changed layer is a miss."""
    cache = tmp_path / "cache"
    base = _layer({"bin/sh": 1600000000})
    built = _layer({"app/out": EPOCH - 86400})
    amd64 = Platform("linux", "amd64")

    def release(name: str, layers: list[bytes], layer_cache: Path | None) -> tuple[str, Path]:
        tarball = _export(tmp_path / f"{name}.tar", layers, HISTORY)
        layout = tmp_path / name / "layout"
        layout.parent.mkdir()
        done = assemble_release({amd64: tarball}, epoch=EPOCH, annotations={}, layout=layout, layer_cache=layer_cache)
        return done.index.digest, layout

    plain, _ = release("plain", [base, built], None)
    first, _ = release("first", [base, built], cache)
    entries = sorted(cache.glob("*.tar.gz"))
    assert first == plain and len(entries) == 1  # the built layer only: the base layer is kept as it is
    again, _ = release("again", [base, built], cache)
    assert again == plain
    entries[0].write_bytes(b"damaged")
    repaired, _ = release("repaired", [base, built], cache)
    assert repaired == plain and entries[0].read_bytes() != b"damaged"
    changed, _ = release("changed", [base, _layer({"app/out": EPOCH - 86400, "app/new": EPOCH})], cache)
    assert changed != plain and len(list(cache.glob("*.tar.gz"))) == 2


def test_the_layer_cache_keeps_the_most_recently_used_entries(tmp_path: Path) -> None:
    source = tmp_path / "layer.tar.gz"
    source.write_bytes(gzip.compress(b"layer"))
    cache = LayerCache(tmp_path / "cache", keep=2)
    for n in range(3):
        cache.put(f"sha256:{n:064x}", EPOCH, source, f"sha256:{n:064x}")
    assert cache.get(f"sha256:{0:064x}", EPOCH) is None  # the oldest went
    hit = cache.get(f"sha256:{2:064x}", EPOCH)
    assert hit is not None and hit[0].read_bytes() == source.read_bytes() and hit[1] == f"sha256:{2:064x}"
    assert cache.get(f"sha256:{2:064x}", EPOCH + 1) is None  # another epoch is another layer
