"""``build`` layouts and ``publish --from``: the record, the checks that layouts belong together,
the blob check, and that a release assembled from layouts is the release built in one go."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import InvalidInput
from shipyard.release.image import sha256_digest
from shipyard.release.layouts import (
    RECORD_FILE,
    BuildRecord,
    LayoutImage,
    ReleaseInputs,
    check_layouts,
    layout_builders,
    layout_dependencies,
    parse_build_record,
    resolve_epoch,
)
from shipyard.steps.assemble import assemble_from_layouts, assemble_release, write_platform_layout
from shipyard.steps.layouts import LayoutCorrupted, platform_tarball, read_layout, verify_layout
from shipyard.tagging.labels import oci_annotations
from shipyard.values.platforms import parse_platform, parse_platforms

SHA = "860c1904a1ce19322e91ac35af1ab07466440c37"
OTHER_SHA = "1111111111111111111111111111111111111111"
DOCKERFILE = sha256_digest(b"FROM scratch\n")
EPOCH = 1700000000


def record(*platforms: str, **changes: Any) -> BuildRecord:
    values: dict[str, Any] = {
        "images": tuple(LayoutImage(platform=p, digest="sha256:" + hashlib.sha256(p.encode()).hexdigest()) for p in platforms),
        "commit": SHA,
        "source_url": "https://github.com/acme/app",
        "source_date_epoch": EPOCH,
        "dockerfile": "Dockerfile",
        "dockerfile_digest": DOCKERFILE,
        "target": "",
        "build_args": {"GO": "1.23"},
        "build_secrets": ("npm",),
        "runner": "ubuntu-24.04",
        "engine": "default",
        "engine_version": "v0.19.10",
        "shipyard_version": "0.1.0",
    }
    values.update(changes)
    return BuildRecord(**values)


def release(*platforms: str, **changes: Any) -> ReleaseInputs:
    values: dict[str, Any] = {
        "platforms": parse_platforms(platforms),
        "commit": SHA,
        "source_date_epoch": EPOCH,
        "dockerfile": "Dockerfile",
        "dockerfile_digest": DOCKERFILE,
        "target": "",
        "build_args": {"GO": "1.23"},
    }
    values.update(changes)
    return ReleaseInputs(**values)


ALL = ("linux/amd64", "linux/arm64", "linux/arm/v7")


def test_layouts_of_one_commit_covering_every_platform_belong_together() -> None:
    check_layouts([("d1", record("linux/amd64")), ("d2", record("linux/arm64", "linux/arm/v7"))], release(*ALL))


@pytest.mark.parametrize(
    ("second", "words"),
    [
        (record("linux/arm64", "linux/arm/v7", commit=OTHER_SHA), ["commit", "'860c1904a1ce' in d1", "'111111111111' in d2"]),
        (record("linux/arm64", "linux/arm/v7", source_date_epoch=1), ["source date epoch", "1700000000 in d1", "1 in d2"]),
        (record("linux/arm64", "linux/arm/v7", dockerfile="build/Dockerfile"), ["Dockerfile", "'build/Dockerfile' in d2"]),
        (record("linux/arm64", "linux/arm/v7", dockerfile_digest=sha256_digest(b"x")), ["Dockerfile text"]),
        (record("linux/arm64", "linux/arm/v7", target="debug"), ["build target", "'debug' in d2"]),
        (record("linux/arm64", "linux/arm/v7", build_args={"GO": "1.22"}), ["build arguments", "GO=1.23 in d1", "GO=1.22 in d2"]),
        (record("linux/arm64", "linux/arm/v7", build_secrets=()), ["build secret ids", "npm in d1", "(none) in d2"]),
    ],
)
def test_layouts_built_differently_are_refused_naming_both_and_the_difference(second: BuildRecord, words: list[str]) -> None:
    with pytest.raises(InvalidInput) as error:
        check_layouts([("d1", record("linux/amd64")), ("d2", second)], release(*ALL))
    message = str(error.value)
    assert message.startswith("--from ['d1', 'd2']: the layouts do not belong together:"), message
    assert all(word in message for word in words), message


def test_a_platform_twice_is_refused_naming_both_layouts() -> None:
    with pytest.raises(InvalidInput, match=r"--from \['d1', 'd2'\]: linux/arm64 is in d1 and in d2: a platform twice"):
        check_layouts([("d1", record("linux/amd64", "linux/arm64")), ("d2", record("linux/arm64", "linux/arm/v7"))], release(*ALL))


def test_a_missing_platform_is_refused_naming_it_and_what_each_layout_holds() -> None:
    with pytest.raises(InvalidInput) as error:
        check_layouts([("d1", record("linux/amd64")), ("d2", record("linux/arm64"))], release(*ALL))
    assert str(error.value).startswith(
        "--from ['d1', 'd2']: no layout holds linux/arm/v7 of the release's platforms (d1: linux/amd64; d2: linux/arm64)"
    )


def test_a_platform_the_release_does_not_have_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"--from 'd2': holds linux/s390x, which is not one of the release's platforms"):
        check_layouts([("d1", record("linux/amd64")), ("d2", record("linux/s390x"))], release("linux/amd64"))


@pytest.mark.parametrize(
    ("inputs", "label"),
    [
        (release(*ALL, commit=OTHER_SHA), "commit"),
        (release(*ALL, source_date_epoch=0), "source date epoch"),
        (release(*ALL, dockerfile_digest=sha256_digest(b"FROM alpine\n")), "Dockerfile text"),
        (release(*ALL, build_args={}), "build arguments"),
    ],
)
def test_layouts_built_differently_from_the_release_are_refused(inputs: ReleaseInputs, label: str) -> None:
    with pytest.raises(InvalidInput, match=f"the layouts were built with {label}"):
        check_layouts([("d1", record("linux/amd64")), ("d2", record("linux/arm64", "linux/arm/v7"))], inputs)


def test_a_release_without_a_commit_takes_the_layouts() -> None:
    check_layouts([("d1", record(*ALL))], release(*ALL, commit=""))


def test_no_layout_is_refused() -> None:
    with pytest.raises(InvalidInput, match="names no layout"):
        check_layouts([], release(*ALL))


def test_the_record_round_trips_and_a_foreign_file_is_refused() -> None:
    original = record(*ALL)
    assert parse_build_record(original.dumps(), "d1") == original
    with pytest.raises(InvalidInput, match=f"--from 'd1': {RECORD_FILE} is not JSON"):
        parse_build_record("{", "d1")
    with pytest.raises(InvalidInput, match="is not a shipyard-build/v1 record"):
        parse_build_record('{"schemaVersion": 2}', "d1")
    broken = json.loads(original.dumps())
    del broken["commit"]
    with pytest.raises(InvalidInput, match="is not valid \\(commit: Field required\\)"):
        parse_build_record(json.dumps(broken), "d1")
    broken = {**json.loads(original.dumps()), "images": [{"platform": "windows/amd64", "digest": "sha256:00"}]}
    with pytest.raises(InvalidInput, match="is not valid"):
        parse_build_record(json.dumps(broken), "d1")


def test_the_epoch_rule_is_the_release_plans() -> None:
    assert resolve_epoch(5, 7) == 5
    assert resolve_epoch(None, 7) == 7
    assert resolve_epoch(None, None) == 0


def test_provenance_names_each_layout_image_and_its_builder() -> None:
    layouts = [("d1", record("linux/amd64")), ("d2", record("linux/arm64", runner="ubuntu-24.04-arm", engine="unix:///b.sock"))]
    dependencies = layout_dependencies(layouts)
    assert [d["name"] for d in dependencies] == ["linux/amd64 (built by ubuntu-24.04)", "linux/arm64 (built by ubuntu-24.04-arm)"]
    assert dependencies[1]["digest"] == {"sha256": hashlib.sha256(b"linux/arm64").hexdigest()}
    assert dependencies[1]["uri"] == f"oci-layout:d2@sha256:{hashlib.sha256(b'linux/arm64').hexdigest()}"
    builders = layout_builders(layouts)
    assert [(b["runner"], b["address"], b["platforms"]) for b in builders] == [
        ("ubuntu-24.04", "default", ["linux/amd64"]),
        ("ubuntu-24.04-arm", "unix:///b.sock", ["linux/arm64"]),
    ]


# --- on disk: layouts written as a release normalises them ----------------------------------


def _tar_bytes(files: dict[str, bytes], mtime: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), mtime
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def exported_image(path: Path, platform: str, content: bytes) -> Path:
    """An OCI tarball as the engine exports one platform image: a layer newer than the epoch."""
    layer_tar = _tar_bytes({"app": content}, mtime=EPOCH + 1000)
    layer = gzip.compress(layer_tar, mtime=123)
    parsed = parse_platform(platform)
    config = json.dumps(
        {
            "architecture": parsed.architecture,
            "os": "linux",
            "created": "2030-01-01T00:00:00Z",
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(layer_tar)]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256_digest(config), "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256_digest(layer), "size": len(layer)}],
        }
    ).encode()
    index = json.dumps(
        {
            "schemaVersion": 2,
            "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha256_digest(manifest), "size": len(manifest)}
            ],
        }
    ).encode()
    blobs = {f"blobs/sha256/{sha256_digest(b).split(':')[1]}": b for b in (layer, config, manifest)}
    path.write_bytes(_tar_bytes({"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": index, **blobs}, mtime=0))
    return path


def written_layout(tmp_path: Path, name: str, platforms: tuple[str, ...], **changes: Any) -> Path:
    """What ``build`` writes: the normalised layout and its record."""
    root = tmp_path / name
    root.mkdir()
    exports = {parse_platform(p): exported_image(tmp_path / f"{name}-{p.replace('/', '-')}.tar", p, p.encode()) for p in platforms}
    annotations = oci_annotations(epoch=EPOCH, revision=SHA)
    manifests = write_platform_layout(exports, epoch=EPOCH, annotations=annotations, layout=root)
    images = tuple(LayoutImage(platform=str(p), digest=d.digest) for p, d in manifests.items())
    (root / RECORD_FILE).write_text(record(*platforms, images=images, **changes).dumps())
    return root


def test_a_release_assembled_from_layouts_is_the_release_built_in_one_go(tmp_path: Path) -> None:
    d1 = read_layout("d1", written_layout(tmp_path, "d1", ("linux/amd64",)))
    d2 = read_layout("d2", written_layout(tmp_path, "d2", ("linux/arm64", "linux/arm/v7")))
    assert verify_layout(d1) == 3 and verify_layout(d2) == 6  # config, layer and manifest of each platform
    annotations = oci_annotations(epoch=EPOCH, revision=SHA, version="1.2.3")
    images = {p: (layout.root, digest) for layout in (d1, d2) for p, digest in layout.images().items()}
    (tmp_path / "from").mkdir()
    together = assemble_from_layouts(images, annotations=annotations, layout=tmp_path / "from" / "layout")

    exports = {parse_platform(p): exported_image(tmp_path / f"one-{i}.tar", p, p.encode()) for i, p in enumerate(ALL)}
    (tmp_path / "one").mkdir()
    alone = assemble_release(exports, epoch=EPOCH, annotations=annotations, layout=tmp_path / "one" / "layout")
    assert together.index == alone.index
    assert together.manifests == alone.manifests
    index = json.loads((tmp_path / "from" / "layout" / "blobs" / "sha256" / together.index.digest.split(":")[1]).read_bytes())
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["amd64", "arm", "arm64"]


def test_a_blob_whose_bytes_do_not_match_its_digest_is_named(tmp_path: Path) -> None:
    layout = read_layout("d1", written_layout(tmp_path, "d1", ("linux/amd64",)))
    manifest = json.loads((layout.root / "blobs" / "sha256" / layout.record.images[0].digest.split(":")[1]).read_bytes())
    layer = manifest["layers"][0]["digest"]
    path = layout.root / "blobs" / "sha256" / layer.split(":")[1]
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(LayoutCorrupted) as error:
        verify_layout(layout)
    assert error.value.exit_code == 2 and error.value.blob == layer
    assert str(error.value).startswith(f"--from 'd1': blob {layer} does not match its digest (its bytes hash to sha256:")


def test_a_missing_blob_is_named(tmp_path: Path) -> None:
    layout = read_layout("d1", written_layout(tmp_path, "d1", ("linux/amd64",)))
    manifest = json.loads((layout.root / "blobs" / "sha256" / layout.record.images[0].digest.split(":")[1]).read_bytes())
    config = manifest["config"]["digest"]
    (layout.root / "blobs" / "sha256" / config.split(":")[1]).unlink()
    with pytest.raises(LayoutCorrupted, match=f"blob {config} named by the manifest .* is missing"):
        verify_layout(layout)


def test_a_directory_without_a_record_or_with_a_record_of_another_layout_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=f"--from 'x': has no {RECORD_FILE}"):
        read_layout("x", tmp_path)
    root = written_layout(tmp_path, "d1", ("linux/amd64",))
    other = record("linux/amd64")  # digests of no image in this layout
    (root / RECORD_FILE).write_text(other.dumps())
    with pytest.raises(InvalidInput, match=r"which its index\.json does not list"):
        read_layout("d1", root)


def test_a_platform_image_leaves_as_a_tarball_the_engine_imports(tmp_path: Path) -> None:
    layout = read_layout("d1", written_layout(tmp_path, "d1", ("linux/arm64",)))
    annotations = oci_annotations(epoch=EPOCH, version="1.2.3")
    (tmp_path / "r").mkdir()
    release_layout = tmp_path / "r" / "layout"
    assembled = assemble_from_layouts(
        {parse_platform("linux/arm64"): (layout.root, layout.record.images[0].digest)}, annotations=annotations, layout=release_layout
    )
    manifest = assembled.manifests[parse_platform("linux/arm64")]
    tarball = platform_tarball(release_layout, manifest, tmp_path / "arm64.tar")
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    assert index["manifests"][0]["digest"] == manifest.digest
    assert index["manifests"][0]["platform"] == {"architecture": "arm64", "os": "linux"}
    assert {"oci-layout", "index.json", f"blobs/sha256/{manifest.digest.split(':')[1]}"} <= names
    assert len(names) == 2 + 3
