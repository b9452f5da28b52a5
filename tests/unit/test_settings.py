"""shipyard.toml: keys are publish's long options with '_', flags beat the file, the file beats
the defaults, and every mistake names the file, the line and the key."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest

from shipyard.arguments import Kind, functions
from shipyard.errors import InvalidInput
from shipyard.main import Shipyard
from shipyard.release.config import SbomFormat, SigningMode
from shipyard.release.settings import (
    KEYS,
    PER_RUN_KEYS,
    SECRET_KEYS,
    Origin,
    ReleaseSettings,
    SettingsFile,
    parse_settings,
    resolve_settings,
)
from shipyard.release.vocabulary import RENAMED
from shipyard.schema import SCHEMA_PATH, schema_text

ROOT = Path(__file__).resolve().parents[2]
# publish arguments that are no setting, and why (the rest of publish's arguments are keys of the file)
NOT_SETTINGS = {
    "registry": "Services: module mode only",
    "keep_outputs": "module mode only: how a workflow gets dist/ of a failed release",
    "trivyignore": "a file: the source's .trivyignore is read by default",
    "sigstore_trusted_root": "a file given per machine",
    "tool_images": "a file given per machine (mirrors)",
    "provenance": "deprecated: provenance is on by default",
}


def test_the_shipped_schema_is_generated_from_the_settings_model() -> None:
    assert (ROOT / SCHEMA_PATH).read_text() == schema_text(), "run: python -m shipyard.schema"


def test_every_publish_argument_is_a_setting_a_secret_or_per_run() -> None:
    publish = {a.name.removesuffix("_"): a for a in functions(Shipyard)["publish"]}
    for name, arg in publish.items():
        if name in KEYS:
            field = ReleaseSettings.model_fields[name]
            assert (typing.get_origin(field.annotation) is list) == arg.repeatable, name
            assert arg.kind not in (Kind.SECRET, Kind.FILE, Kind.DIRECTORY, Kind.SERVICE), name
        else:
            assert name in SECRET_KEYS | PER_RUN_KEYS | set(NOT_SETTINGS) | set(RENAMED["publish"]), (
                f"{name}: a setting, a secret or per run?"
            )
    assert set(KEYS) <= set(publish)  # no key that publish does not take


def test_a_file_setting_fills_what_no_flag_gives_and_a_flag_wins() -> None:
    file = parse_settings('platform = ["linux/amd64"]\nsign = "keyless"\nsbom = ["cyclonedx-json"]\n', "shipyard.toml")
    values, origins = resolve_settings({"platform": None, "sign": SigningMode.NONE}, file)
    assert values["platform"] == ["linux/amd64"] and origins["platform"] is Origin.FILE
    assert values["sign"] is SigningMode.NONE and origins["sign"] is Origin.FLAG
    assert values["sbom"] == [SbomFormat.CYCLONEDX_JSON] and origins["sbom"] is Origin.FILE
    assert values["dockerfile"] == "Dockerfile" and origins["dockerfile"] is Origin.DEFAULT
    assert values["scan_fail_on"] == "CRITICAL,HIGH" and values["registry_timeout"] == 30


def test_pyproject_reads_its_tool_shipyard_table_only() -> None:
    text = '[project]\nname = "app"\nversion = "1"\n\n[tool.shipyard]\nimage = ["ghcr.io/acme/app"]\n'
    assert parse_settings(text, "pyproject.toml").values == {"image": ["ghcr.io/acme/app"]}
    assert parse_settings('[project]\nname = "app"\n', "pyproject.toml") == SettingsFile(path="pyproject.toml", values={})


BAD = {
    "unknown key": ('platform = ["linux/amd64"]\n\nplatfrom = []\n', "shipyard.toml:3: platfrom", "Did you mean platform?"),
    "wrong type": ("# release\nscan_fail_on = 42\n", "shipyard.toml:2: scan_fail_on", "valid string"),
    "string for a list": ('\nplatform = "linux/amd64"\n', "shipyard.toml:2: platform", "platform = ["),
    "bad choice": ('sign = "sometimes"\n', "shipyard.toml:1: sign", "'keyless'"),
    "bad list item": ('sbom = ["spdx-json", "spdxjson"]\n', "shipyard.toml:1: sbom[1]", "'cyclonedx-json'"),
    "a secret": ('cosign_key = "-----BEGIN"\n', "shipyard.toml:1: cosign_key", "--key env:NAME"),
    "dashes": ('scan-fail-on = "HIGH"\n', "shipyard.toml:1: scan-fail-on", "Write scan_fail_on"),
    "per run": ('tag = "v1.2.3"\n', "shipyard.toml:1: tag", "--tag on each run"),
    "old name": ('target = ["ghcr.io/acme/app"]\n', "shipyard.toml:1: target", "Write image."),
    "a table": ('dockerfile = "Dockerfile"\n[smoke]\nport = 8080\n', "shipyard.toml:2: smoke", "not a Shipyard setting"),
    "bad toml": ('dockerfile = "Dockerfile"\nplatform = ["linux/amd64"\nsign = "key"\n', "shipyard.toml:3:", "not valid TOML"),
    "unclosed at the end": ('dockerfile = "Dockerfile"\nplatform = ["linux/amd64"\n', "shipyard.toml:2:", "not valid TOML"),
}


@pytest.mark.parametrize("case", BAD.values(), ids=BAD.keys())
def test_a_mistake_names_the_file_line_and_key(case: tuple[str, str, str]) -> None:
    text, where, hint = case
    with pytest.raises(InvalidInput) as err:
        parse_settings(text, "shipyard.toml")
    assert str(err.value).startswith(where) and hint in str(err.value) and "\n" not in str(err.value), str(err.value)
    assert err.value.exit_code == 2


def test_pyproject_lines_count_from_the_top_of_the_file() -> None:
    text = '[project]\nname = "app"\n\n[tool.shipyard]\ndockerfile = "Dockerfile"\nregistry_timeout = "soon"\n'
    with pytest.raises(InvalidInput, match=r"^pyproject.toml:6: registry_timeout"):
        parse_settings(text, "pyproject.toml")


def test_schema_lists_every_key_with_its_default() -> None:
    schema = json.loads(schema_text())
    assert set(schema["properties"]) == set(KEYS) and schema["additionalProperties"] is False
    assert schema["properties"]["scan_fail_on"]["default"] == "CRITICAL,HIGH"
