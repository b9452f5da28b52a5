"""One SARIF 2.1.0 log for GitHub code scanning from the Trivy reports of every platform (pure).

Trivy writes one SARIF file per scan; a multi-platform release needs them merged, and the
platform must survive the merge (the same CVE in arm64 and amd64 is two findings, and code
scanning must not fold them into one). So: one run, one rule per vulnerability id, one result
per (platform, package, vulnerability), the platform in the message, the properties and the
fingerprint. Findings the gate accepted (``.trivyignore``) stay in the log, marked suppressed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from typing import Any

from shipyard.gates.scan import findings_of

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TRIVY_URI = "https://github.com/aquasecurity/trivy"

# GitHub orders and filters security alerts by `security-severity` (a CVSS-like score).
_SCORE = {"CRITICAL": "9.5", "HIGH": "8.0", "MEDIUM": "5.5", "LOW": "2.0", "UNKNOWN": "0.0"}
_LEVEL = {"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning", "LOW": "note", "UNKNOWN": "note"}


def _vulnerabilities(report: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for result in report.get("Results") or []:
        for vuln in result.get("Vulnerabilities") or []:
            out.setdefault(str(vuln.get("VulnerabilityID", "")), vuln)
    return out


def _location_uri(reference: str) -> str:
    """An image reference as a SARIF relative URI (``:`` would read as a scheme separator)."""
    return reference.replace("%", "%25").replace(":", "%3A")


def merge_trivy_sarif(
    reports: Mapping[str, Mapping[str, Any]],
    references: Mapping[str, str],
    *,
    ignored: Collection[str] = (),
    trivy_version: str = "",
) -> dict[str, Any]:
    """The merged log. ``reports``: platform -> Trivy JSON; ``references``: platform -> the image
    reference scanned (``repo@sha256:…``); ``ignored``: the vulnerability ids the gate accepts."""
    details: dict[str, Mapping[str, Any]] = {}
    for report in reports.values():
        for vuln_id, vuln in _vulnerabilities(report).items():
            details.setdefault(vuln_id, vuln)
    rule_ids = sorted(details)
    rules = [_rule(vuln_id, details[vuln_id]) for vuln_id in rule_ids]
    results: list[dict[str, Any]] = []
    for platform in sorted(reports):
        reference = references.get(platform, platform)
        for finding in sorted(findings_of(platform, reports[platform]), key=lambda f: (f.id, f.package, f.installed)):
            fixed = finding.fixed or "none"
            result: dict[str, Any] = {
                "ruleId": finding.id,
                "ruleIndex": rule_ids.index(finding.id),
                "level": _LEVEL.get(finding.severity, "note"),
                "message": {
                    "text": (
                        f"{finding.id} ({finding.severity}) in {finding.package} {finding.installed} on {platform}; fixed version: {fixed}"
                    )
                },
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": _location_uri(reference)},
                            "region": {"startLine": 1},
                        },
                        "message": {"text": f"{reference} ({platform}): {finding.package} {finding.installed}"},
                    }
                ],
                "partialFingerprints": {
                    "shipyard/v1": hashlib.sha256(f"{platform}|{finding.id}|{finding.package}".encode()).hexdigest(),
                },
                "properties": {
                    "platform": platform,
                    "package": finding.package,
                    "installedVersion": finding.installed,
                    "fixedVersion": finding.fixed,
                    "severity": finding.severity,
                },
            }
            if finding.id in ignored:
                result["suppressions"] = [{"kind": "external", "justification": "accepted in the release's .trivyignore"}]
            results.append(result)
    driver: dict[str, Any] = {"name": "Trivy", "informationUri": TRIVY_URI, "rules": rules}
    if trivy_version:
        driver["version"] = trivy_version
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                "automationDetails": {"id": "shipyard/trivy/"},
                "results": results,
                "properties": {"platforms": sorted(reports)},
            }
        ],
    }


def _rule(vuln_id: str, vuln: Mapping[str, Any]) -> dict[str, Any]:
    severity = str(vuln.get("Severity", "UNKNOWN")).upper()
    title = str(vuln.get("Title") or vuln_id)
    rule: dict[str, Any] = {
        "id": vuln_id,
        "name": "OsPackageVulnerability",
        "shortDescription": {"text": title},
        "fullDescription": {"text": str(vuln.get("Description") or title)},
        "defaultConfiguration": {"level": _LEVEL.get(severity, "note")},
        "help": {"text": f"{vuln_id} ({severity}): {title}"},
        "properties": {
            "security-severity": _SCORE.get(severity, "0.0"),
            "tags": ["vulnerability", "security", severity],
            "precision": "very-high",
        },
    }
    if vuln.get("PrimaryURL"):
        rule["helpUri"] = str(vuln["PrimaryURL"])
    return rule
