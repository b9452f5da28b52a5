"""The scan gate's decision: which findings fail a release, from Trivy's JSON reports (pure)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.release.config import ScanPolicy


@dataclass(frozen=True)
class Finding:
    platform: str
    id: str
    package: str
    installed: str
    fixed: str
    severity: str

    def describe(self) -> str:
        fix = f", fixed in {self.fixed}" if self.fixed else ""
        return f"{self.id} ({self.severity}) in {self.package} {self.installed}{fix} on {self.platform}"


@dataclass(frozen=True)
class GateResult:
    passed: bool
    failing: tuple[Finding, ...]
    ignored: tuple[Finding, ...]
    counts: Mapping[str, Mapping[str, int]]  # platform -> severity -> count (all findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "gate": "passed" if self.passed else "failed",
            "failing": [f.describe() for f in self.failing],
            "ignored": [f.describe() for f in self.ignored],
            "counts": {p: dict(c) for p, c in self.counts.items()},
        }


def findings_of(platform: str, report: Mapping[str, Any]) -> list[Finding]:
    """The vulnerabilities in one Trivy JSON report."""
    out = []
    for result in report.get("Results") or []:
        for vuln in result.get("Vulnerabilities") or []:
            out.append(
                Finding(
                    platform=platform,
                    id=str(vuln.get("VulnerabilityID", "")),
                    package=str(vuln.get("PkgName", "")),
                    installed=str(vuln.get("InstalledVersion", "")),
                    fixed=str(vuln.get("FixedVersion", "")),
                    severity=str(vuln.get("Severity", "UNKNOWN")).upper(),
                )
            )
    return out


def evaluate_gate(reports: Mapping[str, Mapping[str, Any]], policy: ScanPolicy) -> GateResult:
    """Fail on any finding whose severity the policy names, unless its id is in the ignore list."""
    fail_on = {s.value for s in policy.fail_on}
    failing: list[Finding] = []
    ignored: list[Finding] = []
    counts: dict[str, Counter[str]] = {}
    for platform, report in sorted(reports.items()):
        found = findings_of(platform, report)
        counts[platform] = Counter(f.severity for f in found)
        for finding in found:
            if finding.severity in fail_on:
                (ignored if finding.id in policy.ignore else failing).append(finding)
    return GateResult(passed=not failing, failing=tuple(failing), ignored=tuple(ignored), counts=counts)
