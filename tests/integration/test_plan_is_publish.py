"""`shipyard plan` shows what `shipyard publish` with the same flags does: both call the same
planner (commands/plan.py::release_plan), and publish's report.json carries the plan it acted on."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.integration.conftest import Stack
from tests.integration.test_publish import FIXTURE, SHA, report_of, subprocess_env

# What the plan decides and publish acts on: compared field by field.
DECISIONS = (
    "version",
    "tags",
    "latest",
    "platforms",
    "targets",
    "builders",
    "signing",
    "sbom_formats",
    "provenance",
    "scan",
    "smoke",
    "allow_backwards",
    "allow_overwrite",
    "build_secrets",
    "source_date_epoch",
    "annotations",
    "settings_file",
    "steps",
    "stages",
    "tools",
    "notices",
)


def run(command: str, source: Path, *flags: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "shipyard", command, "--source", str(source), *flags, "--json"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        check=False,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return report_of(proc)


def test_plan_json_and_the_plan_in_publish_s_report_agree(stack: Stack, repo_name: str, tmp_path: Path) -> None:
    """The fixture with a shipyard.toml (settings plan has no flag for: build arguments,
    allow_backwards), the defaults on (SBOM, provenance, the scan gate with the source's
    .trivyignore), and the same command-line flags for both."""
    source = tmp_path / "app"
    shutil.copytree(FIXTURE, source)
    (source / "shipyard.toml").write_text(
        "platform = ['linux/amd64']\n"
        f"build_arg = ['GOLANG_IMAGE={stack.images['golang']}', 'BASE_IMAGE={stack.images['base']}']\n"
        "allow_backwards = true\n"
    )
    flags = ("--tag", "v1.2.3", "--image", f"{stack.registry_a}/{repo_name}", "--sha", SHA, "--source-date-epoch", "1700000000")
    planned = run("plan", source, *flags)
    report = run("publish", source, *flags, "--out", str(tmp_path / "dist"))
    acted = report["plan"]
    assert json.loads((tmp_path / "dist" / "report.json").read_text())["plan"] == acted
    assert {k: planned[k] for k in DECISIONS} == {k: acted[k] for k in DECISIONS}
    assert {k: acted["settings"][k] for k in planned["settings"]} == planned["settings"]  # publish declares more settings
    # the defaults, as both show them: on unless turned off; no key given, so auto signs nothing
    assert planned["sbom_formats"] == ["spdx-json"] and planned["provenance"] is True and planned["signing"] == "none"
    assert planned["scan"]["fail_on"] == ["CRITICAL", "HIGH"] and planned["scan"]["ignore"] == ["CVE-2099-0001"]
    assert planned["allow_backwards"] is True and planned["allow_overwrite"] is False
    assert planned["settings"]["platform"] == {"value": ["linux/amd64"], "from": "file"}
    # and publish did what the plan says: the planned tags on the planned target
    (target,) = report["targets"]
    assert target["repository"] == planned["targets"][0]["repository"] and sorted(target["tags"]) == sorted(planned["tags"])
    assert [p["platform"] for p in report["platforms"]] == planned["platforms"]
