"""A release's settings kept in the repository: ``shipyard.toml`` (or ``[tool.shipyard]`` of a
``pyproject.toml``) at the root of ``--source``, read alike by both doors.

Its keys are the long option names with ``-`` written ``_`` (``--scan-fail-on`` is
``scan_fail_on``), so a flag and a key read alike; a flag given on the command line overrides the
file, and what neither gives takes the default of :class:`ReleaseSettings` (the one place the
release's defaults live). Secrets' values never go in the file: their keys are refused by name.
Every error names the file, the line and the key. :func:`settings_schema` is the JSON Schema
shipped as ``schema/shipyard.schema.json`` for editors.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from shipyard.errors import InvalidInput
from shipyard.release.config import DEFAULT_SCAN_FAIL_ON, SbomFormat, SigningMode

SETTINGS_FILE = "shipyard.toml"
PYPROJECT = "pyproject.toml"
SCHEMA_ID = "https://raw.githubusercontent.com/acme/shipyard/main/schema/shipyard.schema.json"

# Arguments whose values are secrets: named in the file only to say where they go instead.
SECRET_KEYS = frozenset(
    {"key", "cosign_key", "cosign_password", "oidc_token", "oidc_request_url", "oidc_request_token", "build_secret", "registry_auth"}
)
# Arguments that describe one run, not the repository: given by the CI event each time.
RENAMED_KEYS = {"target": "image"}  # 0.1 option names a new file need not accept
PER_RUN_KEYS = frozenset({"tag", "sha", "event", "source_date_epoch", "source", "from", "allow_floating_tags"})


class Origin(StrEnum):
    """Where a setting's value came from, as ``plan`` shows it."""

    FLAG = "flag"
    FILE = "file"
    DEFAULT = "default"


class ReleaseSettings(BaseModel):
    """Everything a release takes but secrets and per-run values (the tag, the commit, the CI event)."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        title="Shipyard release settings (shipyard.toml, or [tool.shipyard] in pyproject.toml)",
        json_schema_extra={"$id": SCHEMA_ID},
    )

    image: list[StrictStr] = Field(
        default_factory=list,
        description="Repositories to publish to, e.g. ghcr.io/acme/app (',optional': skipped without credentials)",
    )
    platform: list[StrictStr] = Field(default_factory=list, description="Platforms to build (default linux/amd64,linux/arm64)")
    dockerfile: StrictStr = Field(default="Dockerfile", description="Path of the Dockerfile, relative to the source")
    build_target: StrictStr = Field(default="", description="The Dockerfile stage to build")
    build_arg: list[StrictStr] = Field(default_factory=list, description="Build arguments, NAME=VALUE")
    spec: StrictStr = Field(default="", description="docker/metadata-action tags: block, one rule per line (default: the release table)")
    flavor: StrictStr = Field(default="", description="docker/metadata-action flavor: block, one line each")
    allow_backwards: StrictBool = Field(default=False, description="Move latest/major/minor tags even to an older release")
    allow_overwrite: StrictBool = Field(default=False, description="Move a version tag that already names other content")
    registry_timeout: StrictInt = Field(default=30, description="Seconds one registry request may take before it is retried")
    sign: SigningMode = Field(default=SigningMode.AUTO, description="auto (key mode when a key is given), none, key or keyless")
    fulcio_url: StrictStr = Field(default="", description="Keyless signing: the Fulcio certificate authority (default the public one)")
    rekor_url: StrictStr = Field(default="", description="The Rekor transparency log")
    timestamp_url: StrictStr = Field(default="", description="Keyless signing: an RFC 3161 timestamp authority")
    sigstore_bundle: StrictBool = Field(default=False, description="Keyless: also store Sigstore bundles as OCI 1.1 referrers")
    scan_fail_on: StrictStr = Field(default=DEFAULT_SCAN_FAIL_ON, description="Severities that fail the Trivy gate, e.g. CRITICAL,HIGH")
    sbom: list[SbomFormat] = Field(default_factory=list, description="SBOM formats per platform (default spdx-json)")
    smoke_port: StrictInt | None = Field(default=None, description="Smoke test: GET this port on localhost inside each image's container")
    smoke_path: StrictStr = Field(default="/", description="Smoke test: the path that must answer HTTP 2xx")
    smoke_cmd: list[StrictStr] = Field(default_factory=list, description="Smoke test: arguments replacing the image's CMD")
    smoke_timeout: StrictInt | None = Field(default=None, description="Smoke test: seconds each platform has to become healthy")
    smoke_compose: StrictStr = Field(
        default="", description="Smoke test: compose file whose service's healthcheck runs (default compose.yaml)"
    )
    smoke_service: StrictStr = Field(default="", description="Smoke test: the compose service")
    smoke_platforms: StrictStr = Field(default="all", description="Smoke test: all, native, none, or a list of platforms")
    no_sbom: StrictBool = Field(default=False, description="No SBOMs")
    no_provenance: StrictBool = Field(default=False, description="No SLSA provenance")
    no_scan: StrictBool = Field(default=False, description="No Trivy scan and no scan gate")


KEYS: tuple[str, ...] = tuple(ReleaseSettings.model_fields)


def settings_schema() -> dict[str, Any]:
    """The JSON Schema of the settings file (``schema/shipyard.schema.json``)."""
    schema = ReleaseSettings.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


class SettingsFile(BaseModel):
    """The settings a file gives (only the keys it holds), and where it is."""

    model_config = ConfigDict(frozen=True)
    path: str = ""  # "" when the source has no settings file
    values: dict[str, Any] = {}


def parse_settings(text: str, path: str) -> SettingsFile:
    """The settings in ``shipyard.toml`` (the whole file) or ``pyproject.toml`` (its ``[tool.shipyard]``)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        at = re.search(r"at line (\d+)", str(exc))
        line = at.group(1) if at else str(len(text.splitlines()))  # "at end of document"
        raise InvalidInput(f"{path}:{line}:", str(exc), "is not valid TOML", "Fix the syntax there.") from None
    table_name = "tool.shipyard" if path.endswith(PYPROJECT) else ""
    data: Any = document.get("tool", {}).get("shipyard", {}) if table_name else document
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}:{_line(text, 'shipyard', 'tool')}: tool.shipyard", data, "is not a table", "Write [tool.shipyard].")
    for key in data:
        if key in KEYS:
            continue
        where = f"{path}:{_line(text, key, table_name)}: {key}"
        if key in SECRET_KEYS:
            flag = _flag("key" if key == "cosign_key" else key)  # cosign_key: publish's --key before 0.2
            raise InvalidInput(where, "…", "is a secret and never goes in the file", f"Give it as --{flag} env:NAME or file:PATH.")
        if key.replace("-", "_") in KEYS:
            raise InvalidInput(where, data[key], "is spelt with '-'", f"Write {key.replace('-', '_')} (the option name with '_').")
        if key in RENAMED_KEYS:
            raise InvalidInput(where, data[key], f"is the old name of {RENAMED_KEYS[key]}", f"Write {RENAMED_KEYS[key]}.")
        if key in PER_RUN_KEYS:
            raise InvalidInput(where, data[key], "changes with every release, not a setting", f"Give it as --{_flag(key)} on each run.")
        close = difflib.get_close_matches(key, KEYS, n=1)
        hint = f"Did you mean {close[0]}?" if close else f"Known keys: {', '.join(KEYS)}."
        raise InvalidInput(where, data[key], "is not a Shipyard setting", hint)
    try:
        ReleaseSettings.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0])
        item = f"[{error['loc'][1]}]" if len(error["loc"]) > 1 else ""
        where = f"{path}:{_line(text, key, table_name)}: {key}{item}"
        raise InvalidInput(where, error.get("input"), error["msg"].lower(), _type_hint(key)) from None
    return SettingsFile(path=path, values=dict(data))


def resolve_settings(
    given: Mapping[str, Any], file: SettingsFile, keys: tuple[str, ...] = KEYS
) -> tuple[dict[str, Any], dict[str, Origin]]:
    """Each of ``keys``: the flag's value when given (not ``None``), else the file's, else the default."""
    from_file = ReleaseSettings.model_validate({k: v for k, v in file.values.items() if k in keys})
    defaults = ReleaseSettings()
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    for key in keys:
        if given.get(key) is not None:
            values[key], origins[key] = given[key], Origin.FLAG
        elif key in file.values:
            values[key], origins[key] = getattr(from_file, key), Origin.FILE
        else:
            values[key], origins[key] = getattr(defaults, key), Origin.DEFAULT
    return values, origins


def _flag(key: str) -> str:
    return key.replace("_", "-")


def _type_hint(key: str) -> str:
    """An example of the key's type, read from the schema (what an editor would offer)."""
    prop = ReleaseSettings.model_json_schema()["properties"][key]
    kinds = [prop.get("type")] + [p.get("type") for p in prop.get("anyOf", [])]
    examples = {"array": '["…"]', "boolean": "true", "integer": "30", "string": '"…"'}
    example = next((examples[k] for k in kinds if k in examples), '"…"')
    if "$ref" in prop or "enum" in prop:
        example = '"auto"'
    return f"Write e.g. {key} = {example} ({prop.get('description', '')})."


def _line(text: str, key: str, table: str) -> int:
    """The line (1-based) where ``key`` is set in ``table`` ("" the top level); tomllib keeps no
    positions, so the file is scanned: ``key =``, ``"key" =`` or a ``[table.key]`` header."""
    current = ""
    assignment = re.compile(rf"""\s*(["']?){re.escape(key)}\1\s*=""")
    header = re.compile(r"\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    for number, line in enumerate(text.splitlines(), 1):
        match = header.match(line)
        if match:
            current = match.group(1).replace('"', "").replace(" ", "")
            if current == f"{table}.{key}".lstrip("."):
                return number
            continue
        if current == table and assignment.match(line):
            return number
    return 1
