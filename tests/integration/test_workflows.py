"""The GitHub Actions wrappers pass actionlint and stay thin: they only call Shipyard."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT, Stack

# Shipyard's own workflows, and the one an application repository copies (docs/examples/).
WORKFLOWS = [*sorted((ROOT / ".github" / "workflows").glob("*.yml")), ROOT / "docs" / "examples" / "release.yml"]
FUNCTIONS = {"cleanup", "sync-readme", "tags", "plan", "publish", "with-registry-auth", "check-report"}
ACTIONS = {
    "actions/checkout@v4",
    "dagger/dagger-for-github@v8.4.0",
    "github/codeql-action/upload-sarif@v3",  # release: the scan's SARIF to code scanning
    "softprops/action-gh-release@v2",  # release: notes, SBOMs and provenance on the GitHub release
}


def test_there_are_workflows() -> None:
    assert [str(w.relative_to(ROOT)) for w in WORKFLOWS] == [
        ".github/workflows/cleanup.yml",
        ".github/workflows/release.yml",
        "docs/examples/release.yml",
    ]


def workflow_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=workflow_id)
def test_actionlint_passes(stack: Stack, workflow: Path) -> None:
    proc = subprocess.run([str(stack.bin / "actionlint"), "-no-color", str(workflow)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# The one script a workflow may run: module mode's job summary and step outputs, which the
# function left in dist/ (it runs in the engine and cannot reach the runner's files).
HAND_OFF = """        run: |
          cat dist/summary.md >> "$GITHUB_STEP_SUMMARY"
          cat dist/github-output.txt >> "$GITHUB_OUTPUT"
"""


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=workflow_id)
def test_workflows_only_call_the_module(workflow: Path) -> None:
    text = workflow.read_text().replace(HAND_OFF, "")
    assert not re.search(r"^\s*(-\s*)?run:", text, re.MULTILINE), "a workflow step runs its own script"
    uses = set(re.findall(r"uses:\s*(\S+)", text))
    assert uses <= ACTIONS
    for call in re.findall(r"call: >-\n((?:\s{12}.*\n?)+)", text):
        words = set(call.split())
        assert words & FUNCTIONS, call
        assert "--secret env:" in call and "secrets." not in call  # secrets reach the module as env: references


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=workflow_id)
def test_workflows_run_the_engine_version_the_module_declares(workflow: Path) -> None:
    engine = json.loads((ROOT / "dagger.json").read_text())["engineVersion"].removeprefix("v")
    versions = re.findall(r"^\s*version:\s*\"?([^\s\"]+)\"?\s*$", workflow.read_text(), re.MULTILINE)
    assert versions and set(versions) == {engine}


@pytest.mark.parametrize(
    "workflow", [ROOT / ".github" / "workflows" / "release.yml", ROOT / "docs" / "examples" / "release.yml"], ids=workflow_id
)
def test_the_release_workflow_has_least_privilege(workflow: Path) -> None:
    text = workflow.read_text()
    assert re.search(r"^permissions:\n  contents: read\n", text, re.MULTILINE)  # the workflow's default: read only
    job = re.findall(r"^    permissions:\n((?:      \S.*\n)+)", text, re.MULTILINE)
    assert len(job) == 1
    granted = dict(re.findall(r"^      ([a-z-]+): (\w+)", job[0], re.MULTILINE))
    assert granted == {"contents": "write", "packages": "write", "id-token": "write", "security-events": "write"}


def test_the_release_workflow_signs_keyless_with_the_runners_token_and_documents_key_mode() -> None:
    text = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    call = re.findall(r"call: >-\n((?:\s{12}.*\n?)+)", text)[0].split()
    assert call[call.index("--sign") + 1] == "keyless"
    assert call[call.index("--oidc-request-url") + 1] == "env:ACTIONS_ID_TOKEN_REQUEST_URL"
    assert call[call.index("--oidc-request-token") + 1] == "env:ACTIONS_ID_TOKEN_REQUEST_TOKEN"
    assert "--key" not in call and "--key" not in call and "COSIGN_KEY:" not in text  # no key secret in keyless mode
    assert "#   --sign key --key env:COSIGN_KEY --cosign-password env:COSIGN_PASSWORD" in text  # the alternative


@pytest.mark.parametrize("workflow", [ROOT / ".github" / "workflows" / "release.yml", ROOT / "docs" / "examples" / "release.yml"])
def test_the_release_workflows_hand_the_summary_and_outputs_to_github(workflow: Path) -> None:
    text = workflow.read_text()
    assert text.count(HAND_OFF) == 1
    step = text[: text.index(HAND_OFF)].rsplit("- name:", 1)[1]
    assert "id: release" in step and "!cancelled()" in step  # a failed release's summary too
    for output in ("digest", "image", "tags", "version"):
        assert f"{output}: ${{{{ steps.release.outputs.{output} }}}}" in text
