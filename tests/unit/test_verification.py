"""What verify checks, how it inspects an image, and how its report names failures (pure)."""

from __future__ import annotations

import pytest

from shipyard.errors import InvalidInput
from shipyard.reports.verification import Check, VerifyReport, expected_checks, inspect_image, parse_attestation_types, signed_digests

D = "sha256:" + "a" * 64


def test_signatures_everywhere_sboms_per_platform_and_on_the_index_provenance_on_the_index() -> None:
    assert expected_checks(["linux/amd64", "linux/arm64"], ["spdxjson", "slsaprovenance1"]) == [
        ("signature", "index"),
        ("signature", "linux/amd64"),
        ("signature", "linux/arm64"),
        ("attestation spdxjson", "index"),
        ("attestation spdxjson", "linux/amd64"),
        ("attestation spdxjson", "linux/arm64"),
        ("attestation slsaprovenance1", "index"),
    ]


def test_attestation_types_default_accept_commas_and_none() -> None:
    assert parse_attestation_types([]) == ("spdxjson", "slsaprovenance1")
    assert parse_attestation_types(["cyclonedx,slsaprovenance1", "cyclonedx"]) == ("cyclonedx", "slsaprovenance1")
    assert parse_attestation_types(["none"]) == ()
    with pytest.raises(InvalidInput, match="--attestation 'sbom'"):
        parse_attestation_types(["sbom"])


def test_inspection_reads_what_the_image_runs_as() -> None:
    manifest = {"config": {"size": 100}, "layers": [{"size": 1000}, {"size": 24}]}
    config = {
        "os": "linux",
        "architecture": "arm",
        "variant": "v7",
        "config": {"User": "65532", "ExposedPorts": {"8080/tcp": {}}, "Entrypoint": ["/app"], "Env": ["PATH=/bin"]},
    }
    image = inspect_image("linux/arm/v7", D, manifest, config)
    assert image["architecture"] == "arm/v7" and image["size"] == 1124 and image["layers"] == 2
    assert image["user"] == "65532" and image["exposed_ports"] == ["8080/tcp"] and image["entrypoint"] == ["/app"]
    assert inspect_image("linux/amd64", D, {}, {"config": {}})["user"] == "root (not set)"


def test_signed_digests_come_from_sig_tags() -> None:
    assert signed_digests(["1.0.0", f"sha256-{'b' * 64}.sig", f"sha256-{'a' * 64}.att", "latest"]) == ["sha256:" + "b" * 64]


def test_a_report_fails_on_any_failed_check_or_gate_and_names_them() -> None:
    good = VerifyReport("r:1", D, "the given public key", checks=(Check("signature", "index", D, True),))
    assert good.ok and "passed" in good.render_text()
    bad = VerifyReport(
        "r:1",
        D,
        "the given public key",
        checks=(Check("signature", "index", D, True), Check("attestation spdxjson", "linux/arm64", D, False, "no matching attestations")),
        scan={"gate": "failed", "failing": ["CVE-1 (HIGH) in zlib 1 on linux/arm64"]},
        hints=("linux/arm64 has no attestations stored at all",),
    )
    assert not bad.ok
    assert bad.failures == [
        "attestation spdxjson on linux/arm64 (sha256:aaaaaaaaaaaa…): FAILED — no matching attestations",
        "scan gate failed: CVE-1 (HIGH) in zlib 1 on linux/arm64",
    ]
    text = bad.render_text()
    assert "FAILED" in text.splitlines()[0] and "hint: linux/arm64 has no attestations stored at all" in text
    assert bad.to_dict()["ok"] is False
