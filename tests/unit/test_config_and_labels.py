"""Configuration models and OCI annotations."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shipyard.errors import InvalidInput
from shipyard.release.config import ScanPolicy, Severity, Target, ToolImages, is_loopback_registry, parse_ignore_list
from shipyard.tagging.labels import created_timestamp, oci_annotations, parse_epoch


def test_target_syntax() -> None:
    assert Target.parse("ghcr.io/acme/app") == Target(repository="ghcr.io/acme/app", optional=False)
    assert Target.parse("acme/app,optional").repository == "docker.io/acme/app"
    assert Target.parse("acme/app,optional=true").optional
    with pytest.raises(InvalidInput, match="unknown option"):
        Target.parse("acme/app,public")


def test_target_rejects_tags() -> None:
    with pytest.raises((InvalidInput, ValidationError), match="carries a tag"):
        Target.parse("ghcr.io/acme/app:1.0")


def test_targets_are_frozen() -> None:
    target = Target.parse("ghcr.io/acme/app")
    with pytest.raises(ValidationError):
        target.optional = True


@pytest.mark.parametrize(
    ("registry", "loopback"),
    [("localhost:5000", True), ("127.0.0.1:5001", True), ("[::1]:5000", True), ("ghcr.io", False), ("10.0.0.1:5000", False)],
)
def test_loopback_registries(registry: str, loopback: bool) -> None:
    assert is_loopback_registry(registry) is loopback


def test_tool_images_must_be_pinned_and_valid() -> None:
    assert ToolImages(cosign="127.0.0.1:5000/tools/cosign:v2").cosign == "127.0.0.1:5000/tools/cosign:v2"
    with pytest.raises((InvalidInput, ValidationError), match="not pinned"):
        ToolImages(syft="anchore/syft")


def test_scan_policy_parsing() -> None:
    policy = ScanPolicy.from_strings("critical, HIGH", ["CVE-2024-0001", "# comment"])
    assert policy.fail_on == (Severity.CRITICAL, Severity.HIGH)
    assert policy.ignore == ("CVE-2024-0001",)
    with pytest.raises(InvalidInput, match="not a Trivy severity"):
        ScanPolicy.from_strings("SEVERE")


def test_trivyignore_format() -> None:
    text = "# accepted risks\nCVE-2023-1 exp:2025-01-01\n\nGHSA-abcd-efgh-ijkl # note\nCVE-2023-1\n"
    assert parse_ignore_list(text) == ["CVE-2023-1", "GHSA-abcd-efgh-ijkl"]
    with pytest.raises(InvalidInput, match="not a vulnerability id"):
        parse_ignore_list("???")


def test_created_comes_from_the_epoch_never_the_clock() -> None:
    assert created_timestamp(1700000000) == "2023-11-14T22:13:20Z"
    annotations = oci_annotations(epoch=0, title="app", version="1.2.3", description=None)
    assert annotations == {
        "org.opencontainers.image.created": "1970-01-01T00:00:00Z",
        "org.opencontainers.image.title": "app",
        "org.opencontainers.image.version": "1.2.3",
    }


@pytest.mark.parametrize(("value", "expected"), [("", None), (None, None), ("17", 17), (5, 5)])
def test_parse_epoch(value: str | int | None, expected: int | None) -> None:
    assert parse_epoch(value) == expected


@pytest.mark.parametrize("value", ["yesterday", "-1", "1_000", "1e9", "253402300800", "9" * 5000])
def test_bad_epoch(value: str) -> None:
    with pytest.raises(InvalidInput, match="SOURCE_DATE_EPOCH"):
        parse_epoch(value)


def test_unknown_annotation_is_an_error() -> None:
    with pytest.raises(InvalidInput, match="not an OCI annotation"):
        oci_annotations(epoch=0, colour="blue")
