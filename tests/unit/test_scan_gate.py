"""The scan gate fails on the policy's severities, per platform, minus the ignore list."""

from __future__ import annotations

from shipyard.gates.scan import evaluate_gate
from shipyard.release.config import ScanPolicy


def _report(*vulns: tuple[str, str, str]) -> dict[str, object]:
    return {
        "Results": [
            {
                "Vulnerabilities": [
                    {"VulnerabilityID": i, "PkgName": p, "Severity": s, "InstalledVersion": "1", "FixedVersion": "2"} for i, p, s in vulns
                ]
            }
        ]
    }


REPORTS = {
    "linux/amd64": _report(("CVE-1", "openssl", "HIGH"), ("CVE-2", "zlib", "LOW")),
    "linux/arm64": _report(("CVE-3", "curl", "CRITICAL")),
}


def test_a_high_or_critical_finding_on_any_platform_fails_and_is_named() -> None:
    result = evaluate_gate(REPORTS, ScanPolicy.from_strings("CRITICAL,HIGH"))
    assert not result.passed
    assert [f.describe() for f in result.failing] == [
        "CVE-1 (HIGH) in openssl 1, fixed in 2 on linux/amd64",
        "CVE-3 (CRITICAL) in curl 1, fixed in 2 on linux/arm64",
    ]
    assert result.counts["linux/amd64"] == {"HIGH": 1, "LOW": 1}


def test_ignored_ids_pass_and_are_reported() -> None:
    result = evaluate_gate(REPORTS, ScanPolicy.from_strings("CRITICAL,HIGH", ignore=["CVE-1", "CVE-3"]))
    assert result.passed and [f.id for f in result.ignored] == ["CVE-1", "CVE-3"]


def test_a_policy_on_critical_only_lets_high_through() -> None:
    assert [f.id for f in evaluate_gate(REPORTS, ScanPolicy.from_strings("CRITICAL")).failing] == ["CVE-3"]
