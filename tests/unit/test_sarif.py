"""The merged SARIF log is valid SARIF 2.1.0 and keeps every platform's findings apart."""

from __future__ import annotations

import copy

import jsonschema
import pytest

from shipyard.reports.sarif import merge_trivy_sarif
from tests.schemas import validate_sarif


def _report(*vulns: tuple[str, str, str]) -> dict[str, object]:
    return {
        "Results": [
            {
                "Target": "app (debian 12.8)",
                "Vulnerabilities": [
                    {
                        "VulnerabilityID": i,
                        "PkgName": p,
                        "Severity": s,
                        "InstalledVersion": "1",
                        "FixedVersion": "2",
                        "Title": f"{p}: a flaw",
                        "PrimaryURL": f"https://avd.aquasec.com/nvd/{i.lower()}",
                    }
                    for i, p, s in vulns
                ],
            }
        ]
    }


REPORTS = {
    "linux/arm64": _report(("CVE-2099-0001", "coreutils", "HIGH")),
    "linux/amd64": _report(("CVE-2099-0001", "coreutils", "HIGH"), ("CVE-1", "zlib", "LOW")),
}
REFS = {p: f"127.0.0.1:5000/acme/app@sha256:{c * 64}" for p, c in (("linux/amd64", "a"), ("linux/arm64", "b"))}


def test_the_merged_log_validates_against_the_sarif_2_1_0_schema() -> None:
    validate_sarif(merge_trivy_sarif(REPORTS, REFS, ignored={"CVE-1"}, trivy_version="0.70.0"))


def test_the_schema_check_can_fail() -> None:
    broken = copy.deepcopy(merge_trivy_sarif(REPORTS, REFS))
    broken["runs"][0]["results"][0]["level"] = "fatal"  # not a SARIF level
    with pytest.raises(jsonschema.ValidationError):
        validate_sarif(broken)


def test_the_same_finding_on_two_platforms_is_two_results_naming_each_platform() -> None:
    run = merge_trivy_sarif(REPORTS, REFS)["runs"][0]
    same = [r for r in run["results"] if r["ruleId"] == "CVE-2099-0001"]
    assert [r["properties"]["platform"] for r in same] == ["linux/amd64", "linux/arm64"]
    assert all(r["properties"]["platform"] in r["message"]["text"] for r in same)
    assert len({r["partialFingerprints"]["shipyard/v1"] for r in same}) == 2  # code scanning keeps both
    assert [rule["id"] for rule in run["tool"]["driver"]["rules"]] == ["CVE-1", "CVE-2099-0001"]  # one rule per id
    assert same[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith("127.0.0.1%3A5000/acme/app@sha256%3A")


def test_accepted_findings_stay_in_the_log_as_suppressed() -> None:
    run = merge_trivy_sarif(REPORTS, REFS, ignored={"CVE-2099-0001"})["runs"][0]
    suppressed = {(r["ruleId"], r["properties"]["platform"]) for r in run["results"] if r.get("suppressions")}
    assert suppressed == {("CVE-2099-0001", "linux/amd64"), ("CVE-2099-0001", "linux/arm64")}


def test_a_clean_release_is_a_valid_log_with_no_results() -> None:
    log = merge_trivy_sarif({"linux/amd64": {"Results": []}}, REFS)
    validate_sarif(log)
    assert log["runs"][0]["results"] == []
