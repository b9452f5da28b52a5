"""A failed release hands dist/ to the workflow (publish --keep-outputs) and check-report fails the job."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
import dagger
import pytest

from shipyard.errors import InvalidInput
from shipyard.main import Shipyard
from shipyard.reports.report import ReportCheck
from shipyard.sdk import FunctionError
from tests.unit.test_doors import LocalFile

FAILED = {"ok": False, "version": "1.2.3", "error": "scan gate: 2 CRITICAL,HIGH finding(s) on linux/amd64", "tags": []}
PASSED = {"ok": True, "version": "1.2.3", "error": None, "tags": ["1.2.3"]}


def test_a_failed_report_fails_in_both_doors(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps(FAILED))
    out = subprocess.run([sys.executable, "-m", "shipyard", "check-report", "--report", str(report)], capture_output=True, text=True)
    assert out.returncode == 3 and "Release 1.2.3: FAILED" in out.stdout and "scan gate" in out.stdout
    file: dagger.File = LocalFile(report)  # type: ignore[assignment]
    with pytest.raises(FunctionError, match=r"Release 1.2.3: FAILED\n  error: scan gate: 2 CRITICAL"):
        anyio.run(lambda: Shipyard().check_report(report=file))


def test_a_passed_report_passes(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps(PASSED))
    out = subprocess.run([sys.executable, "-m", "shipyard", "check-report", "--report", str(report)], capture_output=True, text=True)
    assert (out.returncode, out.stdout.strip()) == (0, "Release 1.2.3: published")


@pytest.mark.parametrize("text", ["", "[]", '{"version": "1"}', "not json"])
def test_something_else_than_a_report_is_bad_input(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"^--report .*is not a Shipyard report.json"):
        ReportCheck.from_json(text)
