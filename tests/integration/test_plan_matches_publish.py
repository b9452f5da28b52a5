"""``shipyard plan`` lists the steps ``shipyard publish`` then runs: both read one step list
(release/steps.py). Run on the fixture with the same release flags; the plan's steps must equal
the report's (the steps that ran, in the list's order), and the report's list of files written
must be what the output directory holds, read back from disk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import Stack
from tests.integration.test_publish import FIXTURE, SHA, report_of, shipyard, subprocess_env
from tests.integration.tools import COSIGN_PASSWORD, Tools

pytestmark = pytest.mark.integration

# Written after the release by the command, not by its steps (the report cannot list itself).
COMMAND_FILES = {"report.json", "summary.md", "github-output.txt", "release-notes.md", "engine.log"}


def _plan(*flags: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-m", "shipyard", "plan", *flags, "--json"], capture_output=True, text=True, env=subprocess_env(), check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data: dict[str, object] = json.loads(proc.stdout)
    return data


@pytest.mark.parametrize("sign", ["none", "key"])
def test_the_plan_lists_exactly_the_steps_publish_runs(sign: str, stack: Stack, tools: Tools, repo_name: str, tmp_path: Path) -> None:
    a = f"{stack.registry_a}/{repo_name}"
    # the release's flags, given to both (publish's defaults: SBOM, provenance, the scan gate on)
    flags = ["--tag", "v3.0.0", "--platform", "linux/amd64", "--image", a, "--source", str(FIXTURE), "--sha", SHA,
             "--source-date-epoch", "1700000000", "--sign", sign]  # fmt: skip
    plan = _plan(*flags)
    planned = [step["name"] for step in plan["steps"]]  # type: ignore[attr-defined]
    expected = {
        "none": ["build+assemble", "check-release-tags", "scan", "push", "sbom", "provenance", "promote"],
        "key": ["build+assemble", "check-release-tags", "scan", "push", "sbom", "provenance", "sign", "promote"],
    }[sign]
    assert planned == expected

    key, _ = tools.keypair("plan-matches")
    signing = ["--key", f"file:{key}", "--cosign-password", "env:SHIPYARD_TEST_COSIGN_PASSWORD"] if sign == "key" else []
    out = tmp_path / "dist"
    proc = shipyard(*flags, *signing, "--json", stack=stack, out=out, extra_env={"SHIPYARD_TEST_COSIGN_PASSWORD": COSIGN_PASSWORD},
                    release_defaults=True)  # fmt: skip
    report = report_of(proc)
    assert proc.returncode == 0, report
    assert report["steps"] == planned
    assert list(report["timings"]) and set(report["timings"]) == set(planned)  # each step that ran was timed, no other
    assert tools.digest(f"{a}:3.0.0") == report["digest"]  # read back: the release is what the tag names

    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    written = set(report["files"])
    assert len(written) == len(report["files"])  # each file once
    assert written == on_disk - COMMAND_FILES - {p for p in on_disk if p.startswith("builder-")}
    assert {"oci/index.json", "oci/oci-layout", "provenance.json", "sbom/linux-amd64.spdx-json.json", "scan/trivy.sarif"} <= written
    assert f"oci/blobs/sha256/{report['digest'].split(':', 1)[1]}" in written
    assert [str(out / f) for f in report["files"] if f.startswith("sbom/")] == report["sboms"]
