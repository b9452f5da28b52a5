"""Module mode for real: the `dagger` CLI loads Shipyard's own module from the project checkout.

This is what a user's `dagger functions` / `dagger call` does: the stack's engine loads the
builtin Python SDK (ci/lib/sdk.sh), installs the module with the SDK's runtime, and serves its
functions. The expected functions are read from the module's source with `ast`, and the expected
tags from the README's release table, never from Shipyard's own code.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT, Stack
from tests.integration.tools import Tools

pytestmark = pytest.mark.integration

# A cold engine first builds the Python SDK runtime (Go codegen and build) and installs the module.
COLD_LOAD_TIMEOUT = 900
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def dagger(stack: Stack, *args: str) -> str:
    """Run the stack's `dagger` CLI in the project checkout, as a user would; return its stdout."""
    env = {**os.environ, **stack.env, "NO_COLOR": "1", "DAGGER_NO_NAG": "1"}
    cli = stack.env["_EXPERIMENTAL_DAGGER_CLI_BIN"]
    proc = subprocess.run(
        [cli, "--progress=plain", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=COLD_LOAD_TIMEOUT, check=False
    )
    assert proc.returncode == 0, f"dagger {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    return ANSI.sub("", proc.stdout)


def declared_functions() -> dict[str, str]:
    """The module's functions as its source declares them: CLI name -> first line of the docstring."""
    tree = ast.parse((ROOT / "src" / "shipyard" / "main.py").read_text())
    main = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Shipyard")
    functions = {}
    for node in main.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(_is_function(d) for d in node.decorator_list):
            doc = ast.get_docstring(node) or ""
            functions[node.name.replace("_", "-")] = doc.strip().splitlines()[0] if doc else ""
    return functions


FUNCTION_DECORATORS = {"function", "uncached_function"}  # uncached_function is @function(cache="never")


def _is_function(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return (isinstance(target, ast.Name) and target.id in FUNCTION_DECORATORS) or (
        isinstance(target, ast.Attribute) and target.attr in FUNCTION_DECORATORS
    )


def test_dagger_functions_lists_every_function_with_its_description(stack: Stack) -> None:
    out = dagger(stack, "functions")
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if re.match(r"^Name\s+Description\s*$", line))
    listed = {}
    for line in lines[header + 1 :]:
        if line.strip():
            name, _, description = line.strip().partition(" ")
            listed[name] = description.strip()

    expected = declared_functions()
    assert expected, "no @function found in src/shipyard/main.py"
    assert set(listed) == set(expected)
    for name, description in expected.items():
        assert description, f"{name} has no docstring: `dagger functions` would show it without a description"
        assert listed[name] == description


def test_dagger_call_tags_prints_the_release_tag_set(stack: Stack) -> None:
    out = dagger(stack, "call", "tags", "--ref", "refs/tags/v1.2.3", "--source", "tests/fixtures/app")
    # The README's release table for v1.2.3 (no --sha given and a source without Git, so no sha-<7> tag).
    assert out.split() == ["1.2.3", "1.2", "1", "latest"]


def test_dagger_call_publish_works_on_the_zero_config_default(stack: Stack, tmp_path: Path) -> None:
    out = tmp_path / "dist"
    # The stack has no internet: the default steps' tools (syft, Trivy and its DB, cosign) come
    # from its mirror, named the way an air-gapped user names them (a module sees no environment).
    args = ["call", "publish", "--tag", "v1.2.3", "--source", "tests/fixtures/app", "--tool-images", stack.env["SHIPYARD_TOOL_IMAGES"]]
    args += ["--smoke-port", "8080", "--smoke-path", "/health", "--smoke-platforms", "native"]  # the supervisor builds in module mode too
    dagger(stack, *args, "-o", str(out))
    # Called again with the same arguments it runs again (never a cached result of the last run).
    dagger(stack, *args, "-o", str(out))
    report = json.loads((out / "report.json").read_text())
    assert report["ok"] and [p["platform"] for p in report["platforms"]] == ["linux/amd64", "linux/arm64"]
    assert report["scan"]["gate"] == "passed" and len(report["sboms"]) == 2 and (out / "provenance.json").is_file()
    assert (out / "release-notes.md").read_text().startswith("# Release 1.2.3")
    assert report["smoke"]["result"] == "passed" and report["smoke"]["platforms"][0]["output"].startswith("HTTP 200")
    index = json.loads((out / "oci" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == report["digest"]


def test_dagger_call_publish_gives_the_same_digest_as_the_cli(stack: Stack, tools: Tools, repo_name: str, tmp_path: Path) -> None:
    common = ["--tag", "v1.2.3", "--source", "tests/fixtures/app", "--platform", "linux/amd64,linux/arm64"]
    common += ["--sha", "860c1904a1ce19322e91ac35af1ab07466440c37", "--source-date-epoch", "1700000000"]
    common += ["--no-sbom", "--no-provenance", "--no-scan"]  # the digest is the point here
    port = stack.registry_a.rsplit(":", 1)[1]
    by_module = f"{stack.registry_a}/{repo_name}-module"
    dagger(stack, "call", "publish", *common, "--image", by_module, "--registry", f"tcp://localhost:{port}", "-o", str(tmp_path / "m"))
    by_cli = f"{stack.registry_a}/{repo_name}-cli"
    proc = subprocess.run(
        [sys.executable, "-m", "shipyard", "publish", *common, "--image", by_cli, "--out", str(tmp_path / "c")],
        cwd=ROOT,
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=COLD_LOAD_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    digest = tools.digest(f"{by_module}:1.2.3")
    assert digest == tools.digest(f"{by_cli}:1.2.3")
    assert tools.tags(by_module) == tools.tags(by_cli) == {"1.2.3", "1.2", "1", "sha-860c190", "latest"}
    # module mode cannot reach the runner's files: the job summary and the step outputs are in dist/
    # for the workflow to append (.github/workflows/release.yml)
    outputs = (tmp_path / "m" / "github-output.txt").read_text().splitlines()
    assert f"digest={digest}" in outputs and f"image={by_module}@{digest}" in outputs and "report=dist/report.json" in outputs
    assert f"| `{by_module}` | published |" in (tmp_path / "m" / "summary.md").read_text()


def test_dagger_call_plan_sees_the_credentials_of_with_registry_auth(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_TEST_GHCR_TOKEN", "not-a-real-token")
    out = dagger(
        stack,
        "call",
        "with-registry-auth",
        "--address",
        "ghcr.io",
        "--username",
        "bot",
        "--secret",
        "env:SHIPYARD_TEST_GHCR_TOKEN",
        "plan",
        "--tag",
        "v1.2.3",
        "--image",
        "ghcr.io/acme/app",
        "--event",
        "release",
        "--format",
        "json",
    )
    plan = json.loads(out[out.index("{") : out.rindex("}") + 1])
    assert [(t["repository"], t["skipped"]) for t in plan["targets"]] == [("ghcr.io/acme/app", None)]
    assert "not-a-real-token" not in out
