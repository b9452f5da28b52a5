"""cosign's signatures and attestations written once, copied to every other target (pure).

cosign stores what it writes for a manifest under a tag next to it, ``sha256-<hex>.sig`` (signatures)
or ``.att`` (attestations): an image manifest whose layers are the signed payloads. A signature
and an attestation bind a *digest*: cosign verifies the digest they name, not the repository
(``cosign copy`` moves them between registries, and they verify there). A release has the same
digests in every target, so Shipyard has cosign write them in one target and copies that tag to
the others (``steps/sign.py``): cosign runs once per subject instead of once per subject and
registry, each run decrypting the key again (scrypt) or asking Fulcio for another certificate.

A target may already hold the tag (a digest released before): then the copy keeps its layers
and appends the new ones, as cosign itself appends, so no earlier signature is lost. This module
decides what to write; the registry I/O is ``steps/sign.py``'s.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

from shipyard.values.refs import Digest

SIGNATURES = ".sig"
ATTESTATIONS = ".att"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
_ZERO_TIME = "0001-01-01T00:00:00Z"


def artifact_tag(digest: str, suffix: str) -> str:
    """The tag cosign writes ``digest``'s signatures (``.sig``) or attestations (``.att``) under."""
    if suffix not in (SIGNATURES, ATTESTATIONS):
        raise ValueError(f"not a cosign suffix: {suffix!r}")
    parsed = Digest.parse(digest)
    return f"{parsed.algorithm}-{parsed.hex}{suffix}"


@dataclass(frozen=True)
class Replica:
    """What to write in a target: the manifest (exact bytes), and a config blob when the manifest
    is a merge (its bytes; ``None``: the source's config, copied as is). ``blobs``: the blobs of
    the source the target needs (config first, unless merged), copied where it lacks them before
    the manifest is written; a merge's earlier layers are the target's own already."""

    manifest: bytes
    config: bytes | None
    blobs: tuple[str, ...]


def _identity(layer: Mapping[str, Any]) -> tuple[str, str]:
    """A layer as cosign's duplicate check sees it: the payload and its signature annotations."""
    return str(layer.get("digest", "")), json.dumps(layer.get("annotations") or {}, sort_keys=True)


def cosign_config(layer_digests: Sequence[str]) -> bytes:
    """The image config cosign (go-containerregistry's ``mutate.Append``) writes for these layers:
    empty fields, one history entry per layer, the layers' digests as diff ids (uncompressed)."""
    return json.dumps(
        {
            "architecture": "",
            "created": _ZERO_TIME,
            "history": [{"created": _ZERO_TIME} for _ in layer_digests],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": list(layer_digests)},
            "config": {},
        },
        separators=(",", ":"),
    ).encode()


def replica(source: bytes, existing: Mapping[str, Any] | None) -> Replica | None:
    """What a target must hold so its tag carries every layer of the source's manifest (``source``,
    its exact bytes), given the target's own manifest under that tag (``existing``, or ``None``).
    ``None``: the target has every layer already. No existing tag: the source's bytes, so the tag
    is byte for byte the same in every target. Otherwise the target's layers, then the source's
    new ones, under a config naming them all."""
    body = json.loads(source)
    layers = list(body.get("layers") or [])
    config = body["config"]
    if existing is None:
        return Replica(source, None, (str(config["digest"]), *(str(layer["digest"]) for layer in layers)))
    kept = list(existing.get("layers") or [])
    held = {_identity(layer) for layer in kept}
    new = [layer for layer in layers if _identity(layer) not in held]
    if not new:
        return None
    merged = kept + new
    config_bytes = cosign_config([str(layer["digest"]) for layer in merged])
    config_descriptor = {"mediaType": OCI_CONFIG, "size": len(config_bytes), "digest": "sha256:" + sha256(config_bytes).hexdigest()}
    manifest = {
        "schemaVersion": 2,
        "mediaType": body.get("mediaType", OCI_MANIFEST),
        "config": config_descriptor,
        "layers": merged,
    }
    for key, value in body.items():  # anything else cosign wrote at the top (annotations): kept
        manifest.setdefault(key, value)
    return Replica(
        json.dumps(manifest, separators=(",", ":")).encode(),
        config_bytes,
        tuple(str(layer["digest"]) for layer in new),
    )
