"""One vocabulary across commands (docs/vocabulary.md): the names that changed in 0.2 and the old
spellings, still accepted with a warning until 0.3.

- ``--image``: the image (repository, with a tag or digest where one is read) in every command,
  as docker/metadata-action's ``images`` and cosign's ``IMAGE`` argument; it was ``--target``
  (publish, plan; buildx's ``--target`` is a Dockerfile stage, here ``--build-target``),
  ``--repository`` (cleanup, sync-readme), ``--ref`` (verify; ``tags --ref`` stays the Git ref)
  and ``--against`` (rebuild-check).
- ``--key``: the cosign key in publish (a secret) and verify (the public key), as cosign names
  both; publish's was ``--cosign-key``.
- SBOM formats are syft's spellings everywhere (``spdx-json``, ``cyclonedx-json``); verify's
  ``--attestation`` took cosign's type names (``spdxjson``, ``cyclonedx``, ``slsaprovenance1``,
  now ``provenance``).
- ``--provenance`` did nothing (provenance is on by default): deprecated, ``--no-provenance``
  turns it off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.errors import InvalidInput

REMOVED_IN = "0.3"

# command -> old argument -> new argument
RENAMED: dict[str, dict[str, str]] = {
    "publish": {"target": "image", "cosign_key": "key"},
    "plan": {"target": "image"},
    "cleanup": {"repository": "image"},
    "sync_readme": {"repository": "image"},
    "verify": {"ref": "image"},
    "rebuild_check": {"against": "image"},
}
# verify --attestation: the old (cosign type) spelling -> the one used everywhere now
ATTESTATION_SPELLINGS = {"spdxjson": "spdx-json", "cyclonedx": "cyclonedx-json", "slsaprovenance1": "provenance"}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def deprecation(old: str, new: str) -> str:
    return f"{old} is deprecated and will be removed in {REMOVED_IN}: use {new}"


def renamed_arguments(command: str, arguments: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The arguments with each old spelling's value under its new name, and a warning for each
    old spelling given; both spellings given is an error."""
    out = dict(arguments)
    warnings: list[str] = []
    for old, new in RENAMED.get(command, {}).items():
        value = out.pop(old, None)
        if not value:  # not given (None, "" or an empty list)
            continue
        if out.get(new):
            raise InvalidInput(flag(old), value, f"is the old name of {flag(new)}, which is given too", f"Give {flag(new)} only.")
        out[new] = value
        warnings.append(deprecation(flag(old), flag(new)))
    if command in ("publish", "plan") and arguments.get("provenance"):
        warnings.append(f"--provenance is deprecated and will be removed in {REMOVED_IN}: provenance is on by default")
    return out, warnings


def attestation_spellings(items: list[str]) -> tuple[list[str], list[str]]:
    """verify's ``--attestation`` values in today's spelling, and a warning per old spelling."""
    kinds = [k.strip() for item in items for k in item.split(",") if k.strip()]
    old = [k for k in kinds if k in ATTESTATION_SPELLINGS]
    warnings = [deprecation(f"--attestation {k}", f"--attestation {ATTESTATION_SPELLINGS[k]}") for k in old]
    return [ATTESTATION_SPELLINGS.get(k, k) for k in kinds], warnings
