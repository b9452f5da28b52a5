"""shipyard.toml for real: the fixture released with its settings in the source and no flag but
``--tag`` gives the same digest and tags as the same settings given as flags, through both doors
(``shipyard publish`` and ``dagger call publish``); a mistake in the file names the key and line.
Digests and tags are read back with crane, never from Shipyard's report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT, Stack
from tests.integration.test_module_mode import COLD_LOAD_TIMEOUT, dagger
from tests.integration.tools import Tools

pytestmark = pytest.mark.integration

FIXTURE = ROOT / "tests" / "fixtures" / "app"
SPEC = "type=semver,pattern={{version}}\ntype=semver,pattern={{major}}.{{minor}}\ntype=raw,value=stable"
EXPECTED_TAGS = {"1.2.3", "1.2", "stable", "latest"}


def settings(stack: Stack, target: str) -> dict[str, object]:
    """The release's settings: what the flags run gives as flags, the file runs as shipyard.toml."""
    return {
        "image": [target],
        "platform": ["linux/amd64", "linux/arm64"],
        "build_arg": [f"GOLANG_IMAGE={stack.images['golang']}", f"BASE_IMAGE={stack.images['base']}"],
        "spec": SPEC,
        "no_sbom": True,  # the digest and the tags are the point here
        "no_provenance": True,
        "no_scan": True,
    }


def as_toml(values: dict[str, object]) -> str:
    lines = ["#:schema ../../schema/shipyard.schema.json", "# the release's settings, as a user keeps them"]
    for key, value in values.items():
        if isinstance(value, str) and "\n" in value:
            lines.append(f'{key} = """\n{value}\n"""')
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def as_flags(values: dict[str, object]) -> list[str]:
    flags: list[str] = []
    for key, value in values.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif isinstance(value, list):
            for item in value:
                flags += [flag, str(item)]
        else:
            flags += [flag, str(value)]
    return flags


def source_with(tmp_path: Path, name: str, toml: str | None) -> Path:
    """A copy of the fixture (no Git: no sha tag, SOURCE_DATE_EPOCH 0 in both doors), with ``toml``."""
    copy = tmp_path / name
    shutil.copytree(FIXTURE, copy)
    if toml is not None:
        (copy / "shipyard.toml").write_text(toml)
    return copy


def cli(*args: str, stack: Stack) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in {**os.environ, **stack.env}.items() if k != "SOURCE_DATE_EPOCH"}
    return subprocess.run(
        [sys.executable, "-m", "shipyard", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=COLD_LOAD_TIMEOUT, check=False
    )


def test_a_release_from_shipyard_toml_is_the_release_from_the_same_flags_in_both_doors(
    stack: Stack, tools: Tools, repo_name: str, tmp_path: Path
) -> None:
    by_flags = f"{stack.registry_a}/{repo_name}-flags"
    by_file = f"{stack.registry_a}/{repo_name}-file"
    by_module = f"{stack.registry_a}/{repo_name}-module"

    plain = source_with(tmp_path, "plain", None)
    proc = cli(
        "publish",
        "--tag",
        "v1.2.3",
        "--source",
        str(plain),
        "--out",
        str(tmp_path / "f"),
        *as_flags(settings(stack, by_flags)),
        stack=stack,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    with_file = source_with(tmp_path, "file", as_toml(settings(stack, by_file)))
    proc = cli("publish", "--tag", "v1.2.3", "--source", str(with_file), "--out", str(tmp_path / "c"), stack=stack)
    assert proc.returncode == 0, proc.stderr[-3000:]

    # module mode: --registry (the loopback registry as a Service) and --tool-images are how a
    # function reaches this machine's stack, not settings of the release
    with_file_m = source_with(tmp_path, "module", as_toml(settings(stack, by_module)))
    port = stack.registry_a.rsplit(":", 1)[1]
    loopback = ["--registry", f"tcp://localhost:{port}", "--tool-images", stack.env["SHIPYARD_TOOL_IMAGES"]]
    dagger(stack, "call", "publish", "--tag", "v1.2.3", "--source", str(with_file_m), *loopback, "-o", str(tmp_path / "m"))

    digest = tools.digest(f"{by_flags}:1.2.3")
    assert tools.digest(f"{by_file}:1.2.3") == digest
    assert tools.digest(f"{by_module}:1.2.3") == digest
    assert tools.tags(by_flags) == tools.tags(by_file) == tools.tags(by_module) == EXPECTED_TAGS
    print(f"index digest {digest} in all three, tags {sorted(EXPECTED_TAGS)}")  # for the record (pytest -s)
    manifest = tools.manifest(f"{by_file}@{digest}")
    assert sorted(f"{m['platform']['os']}/{m['platform']['architecture']}" for m in manifest["manifests"]) == [
        "linux/amd64",
        "linux/arm64",
    ]


def test_a_mistake_in_shipyard_toml_names_the_key_and_line_in_both_doors(
    stack: Stack, tools: Tools, repo_name: str, tmp_path: Path
) -> None:
    target = f"{stack.registry_a}/{repo_name}"
    bad = source_with(tmp_path, "bad", f'image = ["{target}"]\n\n# the gate\nscan_fail_on = ["HIGH"]\n')
    proc = cli("publish", "--tag", "v1.2.3", "--source", str(bad), "--out", str(tmp_path / "c"), stack=stack)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("shipyard: error: shipyard.toml:4: scan_fail_on ['HIGH']: input should be a valid string"), proc.stderr
    assert not (tmp_path / "c").exists() and tools.tags(target) == set()  # nothing written, nothing pushed

    env = {**os.environ, **stack.env, "NO_COLOR": "1", "DAGGER_NO_NAG": "1"}
    module = subprocess.run(
        [stack.env["_EXPERIMENTAL_DAGGER_CLI_BIN"], "--progress=plain", "call", "plan", "--tag", "v1.2.3", "--source", str(bad)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=COLD_LOAD_TIMEOUT,
        check=False,
    )
    assert module.returncode != 0 and "shipyard.toml:4: scan_fail_on ['HIGH']: input should be a valid string" in module.stderr
