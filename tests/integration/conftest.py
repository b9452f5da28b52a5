"""Integration fixtures: the local registry stack (ci/stack) and independent tools (crane, cosign).

A missing stack fails the run with the command that fixes it (never a silent skip: a skipped
integration test proves nothing). Without the stack, run the unit tests alone: ``pytest tests/unit``.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.tools import Tools

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Stack:
    registry_a: str
    registry_b: str
    registry_c: str  # distribution v3: deletes a tag alone (A and B are 2.8, which cannot)
    username_b: str
    password_b: str
    bin: Path
    mirror: str
    images: dict[str, str]  # the stack's own images (tool, base, golang, trivy DB), pinned by digest
    env: dict[str, str]  # everything `ci/stack env` exports: engine socket, CLI, registries


@pytest.fixture(scope="session")
def stack() -> Stack:
    proc = subprocess.run(["bash", str(ROOT / "ci" / "stack"), "env", "--json"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or [""])[-1]
        pytest.fail(f"the integration stack is not up ({why}): run `bash ci/stack up` first, or `pytest tests/unit` alone", pytrace=False)
    env = json.loads(proc.stdout)
    # The Dagger SDK (in this process and in any `dagger`/`shipyard` subprocess) reads the
    # engine socket and the CLI from the environment.
    os.environ.update({k: v for k, v in env.items() if k.startswith(("_EXPERIMENTAL_DAGGER", "DO_NOT_TRACK", "DAGGER_", "SHIPYARD_TOOL"))})
    return Stack(
        registry_a=env["SHIPYARD_REGISTRY_A"],
        registry_b=env["SHIPYARD_REGISTRY_B"],
        registry_c=env["SHIPYARD_REGISTRY_C"],
        username_b=env["SHIPYARD_REGISTRY_B_USERNAME"],
        password_b=Path(env["SHIPYARD_REGISTRY_B_PASSWORD_FILE"]).read_text().strip(),
        bin=Path(env["SHIPYARD_STACK_BIN"]),
        mirror=env["SHIPYARD_REGISTRY_MIRROR"],
        images=json.loads(Path(env["SHIPYARD_STACK_IMAGES"]).read_text()),
        env=env,
    )


@pytest.fixture(scope="session")
def tools(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tools]:
    home = tmp_path_factory.mktemp("tools")
    t = Tools(bin=stack.bin, home=home)
    t.login(stack.registry_b, stack.username_b, stack.password_b)
    yield t


@pytest.fixture
def repo_name() -> str:
    """A fresh repository name per test, so runs never see each other's leftovers."""
    return f"it/{uuid.uuid4().hex[:10]}"


@pytest.fixture
def b_auth(stack: Stack, tmp_path: Path) -> str:
    """``--registry-auth`` for registry B, its password read from a file."""
    secret = tmp_path / "b-password"
    secret.write_text(stack.password_b)
    return f"{stack.registry_b}={stack.username_b}:file:{secret}"
