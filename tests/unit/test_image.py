"""The release's image documents are the same bytes for the same inputs, whatever the engine did."""

from __future__ import annotations

import json

from shipyard.release.image import (
    OCI_CONFIG,
    OCI_MANIFEST,
    Descriptor,
    canonical_json,
    image_index,
    normalise_config,
    platform_layout_index,
)
from shipyard.values.platforms import Platform

AMD64, ARM64, ARMV7 = Platform("linux", "amd64"), Platform("linux", "arm64"), Platform("linux", "arm", "v7")


def _config(created: str, pulled_from: str) -> dict[str, object]:
    return {
        "architecture": "arm",
        "os": "linux",
        "created": created,
        "config": {"Entrypoint": ["/app"]},
        "history": [{"created": created, "created_by": f"pulled from {pulled_from}"}, {"created": created, "created_by": "RUN x"}],
        "rootfs": {"type": "layers", "diff_ids": ["sha256:old"]},
    }


def test_build_time_and_cache_history_do_not_reach_the_config() -> None:
    one = normalise_config(_config("2026-11-25T00:00:01Z", "golang@sha256:1"), platform=ARMV7, epoch=0, diff_ids=["sha256:new"])
    two = normalise_config(_config("2026-11-25T09:09:09Z", "debian@sha256:2"), platform=ARMV7, epoch=0, diff_ids=["sha256:new"])
    assert canonical_json(one) == canonical_json(two)
    assert one["created"] == "1970-01-01T00:00:00Z"
    assert one["variant"] == "v7" and one["architecture"] == "arm"  # the config agrees with the index entry
    assert one["rootfs"] == {"type": "layers", "diff_ids": ["sha256:new"]}


def test_index_order_is_fixed_by_platform_not_by_arrival() -> None:
    def manifest(platform: Platform) -> Descriptor:
        return Descriptor.of(OCI_MANIFEST, str(platform).encode(), platform=platform)

    a = image_index([manifest(ARM64), manifest(AMD64), manifest(ARMV7)], {"k": "v"})
    b = image_index([manifest(ARMV7), manifest(ARM64), manifest(AMD64)], {"k": "v"})
    assert canonical_json(a) == canonical_json(b)
    assert [m["platform"].get("variant", m["platform"]["architecture"]) for m in a["manifests"]] == ["amd64", "v7", "arm64"]


def test_canonical_json_is_compact_and_sorted() -> None:
    assert (
        canonical_json({"b": 1, "a": [Descriptor.of(OCI_CONFIG, b"{}").to_dict()]})
        == json.dumps(
            {"a": [{"digest": Descriptor.of(OCI_CONFIG, b"{}").digest, "mediaType": OCI_CONFIG, "size": 2}], "b": 1},
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
    )


def test_a_platform_layout_names_that_platforms_manifest_alone() -> None:
    """syft's oci-dir: and Trivy's --input read one image from a layout: the index lists it alone."""
    manifest = Descriptor(OCI_MANIFEST, "sha256:" + "b" * 64, 512, annotations={"org.opencontainers.image.version": "1"})
    index = json.loads(platform_layout_index(manifest, ARMV7))
    platform = {"os": "linux", "architecture": "arm", "variant": "v7"}
    assert index["manifests"] == [{"mediaType": OCI_MANIFEST, "digest": manifest.digest, "size": 512, "platform": platform}]
