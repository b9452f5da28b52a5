"""The GitHub Actions wrappers pass actionlint and stay thin: they only call Shipyard."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT, Stack

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
FUNCTIONS = {"cleanup", "sync-readme", "tags", "plan", "with-registry-auth"}


def test_there_are_workflows() -> None:
    assert [w.name for w in WORKFLOWS] == ["cleanup.yml"]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actionlint_passes(stack: Stack, workflow: Path) -> None:
    proc = subprocess.run([str(stack.bin / "actionlint"), "-no-color", str(workflow)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_only_call_the_module(workflow: Path) -> None:
    text = workflow.read_text()
    assert not re.search(r"^\s*(-\s*)?run:", text, re.MULTILINE), "a workflow step runs its own script"
    uses = set(re.findall(r"uses:\s*(\S+)", text))
    assert uses <= {"actions/checkout@v4", "dagger/dagger-for-github@v8.4.0"}
    for call in re.findall(r"call: >-\n((?:\s{12}.*\n?)+)", text):
        words = set(call.split())
        assert words & FUNCTIONS, call
        assert "--secret env:" in call and "secrets." not in call  # secrets reach the module as env: references
