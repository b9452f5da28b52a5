"""cosign's tags copied to the other targets (supply_chain/replicas.py): what a target must hold."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from shipyard.supply_chain.replicas import ATTESTATIONS, SIGNATURES, artifact_tag, cosign_config, replica

DIGEST = "sha256:" + "ab" * 32


def _layer(payload: str, signature: str) -> dict[str, Any]:
    data = payload.encode()
    return {
        "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
        "size": len(data),
        "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
        "annotations": {"dev.cosignproject.cosign/signature": signature},
    }


def _manifest(*layers: dict[str, Any]) -> dict[str, Any]:
    config = cosign_config([layer["digest"] for layer in layers])
    return {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "size": len(config),
            "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
        },
        "layers": list(layers),
    }


def test_the_tags_cosign_writes_a_digests_signatures_and_attestations_under() -> None:
    assert artifact_tag(DIGEST, SIGNATURES) == "sha256-" + "ab" * 32 + ".sig"
    assert artifact_tag(DIGEST, ATTESTATIONS) == "sha256-" + "ab" * 32 + ".att"
    with pytest.raises(ValueError):
        artifact_tag(DIGEST, ".sbom")


def test_cosigns_own_config_for_its_layers_byte_for_byte() -> None:
    """As cosign v2 wrote it in registry A (read back with crane config)."""
    one = "sha256:8033bbdf9cf07a8cdc264c62fee67690d9e88b69b851f700699e122e78a19a57"
    assert cosign_config([one]) == (
        b'{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"",'
        b'"rootfs":{"type":"layers","diff_ids":["' + one.encode() + b'"]},"config":{}}'
    )


def test_a_target_without_the_tag_gets_the_source_manifest_byte_for_byte() -> None:
    source = json.dumps(_manifest(_layer("payload", "sig-1"))).encode()
    wanted = replica(source, None)
    assert wanted is not None
    assert wanted.manifest == source and wanted.config is None
    body = json.loads(source)
    assert wanted.blobs == (body["config"]["digest"], body["layers"][0]["digest"])


def test_a_target_holding_the_tag_keeps_its_layers_and_gains_the_new_ones() -> None:
    earlier, new = _layer("payload", "earlier-key"), _layer("payload", "release-key")  # same payload, another signature
    wanted = replica(json.dumps(_manifest(new)).encode(), _manifest(earlier))
    assert wanted is not None and wanted.config is not None
    merged = json.loads(wanted.manifest)
    assert merged["layers"] == [earlier, new]
    assert merged["config"]["digest"] == "sha256:" + hashlib.sha256(wanted.config).hexdigest()
    assert json.loads(wanted.config)["rootfs"]["diff_ids"] == [earlier["digest"], new["digest"]]
    assert wanted.blobs == (new["digest"],)  # the earlier layer is the target's already


def test_a_target_holding_every_layer_already_needs_nothing() -> None:
    layer = _layer("payload", "release-key")
    assert replica(json.dumps(_manifest(layer)).encode(), _manifest(layer)) is None
