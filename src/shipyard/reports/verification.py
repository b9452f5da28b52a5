"""What ``verify`` checks in a published release, and its report (pure).

A consumer's checks, without Docker: the index and every platform manifest signed by the
trusted signer, each expected attestation present and valid on its subject, the SBOMs read out
of the attestations, a re-scan through the gate, and what the image would run as.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.errors import InvalidInput
from shipyard.supply_chain.cosign import PREDICATE_TYPES

DEFAULT_ATTESTATIONS = ("spdxjson", "slsaprovenance1")
# --attestation as publish spells the SBOM formats (and provenance) -> cosign's attestation type
COSIGN_TYPES = {"spdx-json": "spdxjson", "cyclonedx-json": "cyclonedx", "provenance": "slsaprovenance1"}
# Which subjects carry which attestation type: an SBOM is on each platform manifest and on the
# index (one per platform); provenance is on the index only.
PER_PLATFORM = {"spdxjson", "cyclonedx"}


@dataclass(frozen=True)
class Check:
    """One verification: what was checked, on which subject, and why it failed."""

    name: str  # "signature", "attestation spdxjson", "scan"
    subject: str  # "index" or a platform
    digest: str
    ok: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.name, "subject": self.subject, "digest": self.digest, "ok": self.ok, "detail": self.detail}

    def describe(self) -> str:
        return f"{self.name} on {self.subject} ({self.digest[:19]}…): {'ok' if self.ok else 'FAILED'}" + (
            f" — {self.detail}" if self.detail else ""
        )


def expected_checks(platforms: Sequence[str], attestations: Sequence[str]) -> list[tuple[str, str]]:
    """(check, subject) pairs a release must pass: signatures everywhere, then each attestation
    type on the subjects that carry it."""
    subjects = ["index", *platforms]
    checks = [("signature", s) for s in subjects]
    for kind in attestations:
        for subject in subjects if kind in PER_PLATFORM else ["index"]:
            checks.append((f"attestation {kind}", subject))
    return checks


def inspect_image(platform: str, digest: str, manifest: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """What a platform image is and would run as, from its manifest and config."""
    run = config.get("config") or {}
    layers = manifest.get("layers") or []
    size = sum(int(layer.get("size", 0)) for layer in layers) + int((manifest.get("config") or {}).get("size", 0))
    return {
        "platform": platform,
        "digest": digest,
        "os": config.get("os", ""),
        "architecture": config.get("architecture", "") + (f"/{config['variant']}" if config.get("variant") else ""),
        "size": size,
        "layers": len(layers),
        "user": run.get("User") or "root (not set)",
        "exposed_ports": sorted(run.get("ExposedPorts") or {}),
        "env": list(run.get("Env") or []),
        "entrypoint": list(run.get("Entrypoint") or []),
        "cmd": list(run.get("Cmd") or []),
        "workdir": run.get("WorkingDir") or "",
        "created": config.get("created", ""),
    }


def signed_digests(tags: Sequence[str]) -> list[str]:
    """The digests a repository holds cosign signatures for (``sha256-<hex>.sig`` tags)."""
    return sorted(f"sha256:{t[len('sha256-') : -len('.sig')]}" for t in tags if t.startswith("sha256-") and t.endswith(".sig"))


@dataclass(frozen=True)
class VerifyReport:
    reference: str
    digest: str | None
    trusted: str  # whose signatures were accepted: "the given public key", an identity
    checks: tuple[Check, ...] = ()
    images: tuple[dict[str, Any], ...] = ()
    sboms: tuple[str, ...] = ()
    scan: dict[str, Any] | None = None
    error: str | None = None  # the release could not be read at all
    hints: tuple[str, ...] = ()  # what the failures suggest (e.g. the tag moved after signing)

    @property
    def failures(self) -> list[str]:
        out = [c.describe() for c in self.checks if not c.ok]
        if self.scan is not None and self.scan.get("gate") == "failed":
            out.append("scan gate failed: " + "; ".join(self.scan.get("failing", [])))
        if self.error:
            out.insert(0, self.error)
        return out

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "reference": self.reference,
            "digest": self.digest,
            "trusted": self.trusted,
            "failures": self.failures,
            "hints": list(self.hints),
            "checks": [c.to_dict() for c in self.checks],
            "images": list(self.images),
            "sboms": list(self.sboms),
            "scan": self.scan,
            "error": self.error,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def render_text(self) -> str:
        lines = [f"Verify {self.reference}: {'passed' if self.ok else 'FAILED'}"]
        if self.digest:
            lines.append(f"  index:      {self.digest}")
        lines.append(f"  trusted:    {self.trusted}")
        for check in self.checks:
            lines.append(f"  {'ok  ' if check.ok else 'FAIL'}  {check.name:<28} {check.subject:<12} {check.detail}".rstrip())
        for image in self.images:
            ports = ",".join(image["exposed_ports"]) or "-"
            entry = " ".join([*image["entrypoint"], *image["cmd"]]) or "-"
            lines.append(f"  image {image['platform']:<14} {image['size']:>11} bytes  user {image['user']}  ports {ports}  runs {entry}")
        if self.scan is not None:
            lines.append(f"  scan gate:  {self.scan.get('gate')}")
        for path in self.sboms:
            lines.append(f"  sbom:       {path}")
        failures = self.failures
        if failures:
            lines.append("Failed:")
            lines += [f"  - {f}" for f in failures]
        lines += [f"  hint: {h}" for h in self.hints]
        return "\n".join(lines)


def parse_attestation_types(items: Sequence[str]) -> tuple[str, ...]:
    """The attestation types a release must carry (``--attestation``, repeatable or comma-separated;
    ``none`` for only signatures)."""
    given = [k.strip() for item in items for k in item.split(",") if k.strip()]
    if given == ["none"]:
        return ()
    kinds = [COSIGN_TYPES.get(k, k) for k in given]  # cosign's own names still accepted (vocabulary.py)
    for shown, kind in zip(given, kinds, strict=True):
        if kind not in PREDICATE_TYPES:
            raise InvalidInput("--attestation", shown, "is not an attestation type", f"Use {', '.join(COSIGN_TYPES)} or none.")
    return tuple(dict.fromkeys(kinds)) if kinds else DEFAULT_ATTESTATIONS
