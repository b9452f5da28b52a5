"""The SLSA v1 provenance predicate names the source, the build and the builder; never secrets."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf import json_format

from shipyard.supply_chain.provenance import provenance_predicate
from tests.schemas import validate_slsa_predicate, validate_slsa_statement

SHA = "860c1904a1ce19322e91ac35af1ab07466440c37"


def test_the_predicate_records_source_build_and_builder() -> None:
    predicate = _predicate(
        build_args={"VERSION": "1.2.3"},
        secret_ids=["npm_token"],
        platforms={"linux/arm64": "sha256:" + "b" * 64, "linux/amd64": "sha256:" + "a" * 64},
        tool_images={"cosign": "mirror/cosign:v2@sha256:" + "d" * 64, "trivy_db": ""},
    )
    build = predicate["buildDefinition"]
    assert build["externalParameters"]["source"] == {
        "uri": "https://github.com/acme/app",
        "digest": {"gitCommit": "860c1904a1ce19322e91ac35af1ab07466440c37"},
    }
    assert build["externalParameters"]["platforms"] == ["linux/amd64", "linux/arm64"]
    assert build["externalParameters"]["buildSecrets"] == ["npm_token"]  # ids only
    assert build["resolvedDependencies"][0]["uri"] == f"git+https://github.com/acme/app@{SHA}"
    assert [d["name"] for d in build["resolvedDependencies"][1:]] == ["cosign"]
    assert predicate["runDetails"]["builder"]["version"] == {"shipyard": "0.1.0", "dagger": "v0.19.10"}


def _predicate(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "version": "1.2.3",
        "source_url": "https://github.com/acme/app",
        "sha": SHA,
        "dockerfile": "Dockerfile",
        "target": "",
        "build_args": {"VERSION": "1.2.3"},
        "secret_ids": [],
        "platforms": {"linux/amd64": "sha256:" + "a" * 64},
        "index": "sha256:" + "c" * 64,
        "source_date_epoch": 1700000000,
        "tool_images": {"cosign": "mirror/cosign:v2@sha256:" + "d" * 64},
        "shipyard_version": "0.1.0",
        "engine_version": "v0.19.10",
        "started": "2026-11-25T00:00:00Z",
        "finished": "2026-11-25T00:01:00Z",
    }
    return provenance_predicate(**{**arguments, **overrides})


def test_the_statement_cosign_builds_validates_against_the_slsa_v1_schema() -> None:
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "127.0.0.1:5000/acme/app", "digest": {"sha256": "c" * 64}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": _predicate(),
    }
    validate_slsa_statement(statement)


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p["buildDefinition"].pop("buildType"),
        lambda p: p["runDetails"]["builder"].pop("id"),
        lambda p: p["runDetails"]["metadata"].update(startedOn="yesterday"),
        lambda p: p["buildDefinition"].update(unknownField=1),
    ],
    ids=["no-build-type", "no-builder-id", "bad-timestamp", "unknown-field"],
)
def test_the_schema_check_rejects_a_broken_predicate(damage: Callable[[dict[str, Any]], object]) -> None:
    predicate: dict[str, Any] = json.loads(json.dumps(_predicate()))
    damage(predicate)
    with pytest.raises((ValueError, json_format.ParseError)):
        validate_slsa_predicate(predicate)
