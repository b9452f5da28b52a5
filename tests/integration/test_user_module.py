"""Shipyard as a dependency of the user's own module (Go, so another SDK's generated bindings call
it) and as a toolchain (`dagger toolchain install`, experimental in v0.19.10): both publish the
user's repository, and the index digest is the CLI's for the same commit."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.integration.conftest import Stack
from tests.integration.test_from_your_repository import FAST, application, dagger, git, loopback, module_ref, ok, run, served
from tests.integration.tools import Tools

pytestmark = pytest.mark.integration
__all__ = ["module_ref", "served"]  # module-scoped fixtures shared with test_from_your_repository

GO_MAIN = """\
// The user's own module: it releases its repository's image with Shipyard.
package main

import (
\t"dagger/app/internal/dagger"
)

type App struct{}

// Publish this repository's image with Shipyard (dagger install'ed at a tag)
func (m *App) Publish(
\t// +defaultPath="/"
\tsource *dagger.Directory,
\ttag string,
\timage string,
\t// +optional
\tregistry *dagger.Service,
\t// +optional
\ttoolImages *dagger.File,
) *dagger.Directory {
\topts := dagger.ShipyardPublishOpts{
\t\tSource:       source,
\t\tImage:        []string{image},
\t\tPlatform:     []string{"linux/amd64"},
\t\tNoSbom:       true,
\t\tNoProvenance: true,
\t\tNoScan:       true,
\t}
\tif registry != nil {
\t\topts.Registry = []*dagger.Service{registry}
\t}
\tif toolImages != nil {
\t\topts.ToolImages = toolImages
\t}
\treturn dag.Shipyard().Publish(tag, opts)
}
"""


def cli_digest(stack: Stack, tools: Tools, repo: Path, target: str) -> str:
    argv = [sys.executable, "-m", "shipyard", "publish", "--source", ".", "--tag", "v1.2.3", *FAST, "--image", target]
    ok(run(stack, [*argv, "--out", str(repo.parent / "cli-dist")], cwd=repo))
    return tools.digest(f"{target}:1.2.3")


def test_a_go_module_that_installs_shipyard_publishes_its_own_source(
    stack: Stack, tools: Tools, repo_name: str, module_ref: str, tmp_path: Path
) -> None:
    repo = application(tmp_path / "app")
    (repo / "LICENSE").write_text("Apache-2.0\n")  # dagger init otherwise fetches one from spdx.org
    ok(dagger(stack, "init", "--sdk=go", "--name=app", "--source=.dagger", cwd=repo))
    ok(dagger(stack, "install", module_ref, cwd=repo))
    (repo / ".dagger" / "main.go").write_text(GO_MAIN)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the release module")
    git(repo, "gc", "-q")
    by_go = f"{stack.registry_a}/{repo_name}-go"
    ok(dagger(stack, "call", "publish", "--tag", "v1.2.3", "--image", by_go, *loopback(stack), "-o", str(tmp_path / "dist"), cwd=repo))
    by_cli = f"{stack.registry_a}/{repo_name}-cli"
    digests = (tools.digest(f"{by_go}:1.2.3"), cli_digest(stack, tools, repo, by_cli))
    print(f"go module {digests[0]}, cli {digests[1]}")
    assert digests[0] == digests[1]
    sha = git(repo, "rev-parse", "HEAD")
    assert tools.manifest(f"{by_go}:1.2.3")["annotations"]["org.opencontainers.image.revision"] == sha


def test_shipyard_as_a_toolchain_publishes_the_installing_repository_without_source(
    stack: Stack, tools: Tools, repo_name: str, module_ref: str, tmp_path: Path
) -> None:
    repo = application(tmp_path / "app")
    (repo / "LICENSE").write_text("Apache-2.0\n")  # dagger init otherwise fetches one from spdx.org
    ok(dagger(stack, "init", "--name=app", cwd=repo))
    ok(dagger(stack, "toolchain", "install", module_ref, cwd=repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "shipyard as a toolchain")
    by_toolchain = f"{stack.registry_a}/{repo_name}-toolchain"
    args = ["call", "shipyard", "publish", "--tag", "v1.2.3", *FAST, "--image", by_toolchain, *loopback(stack)]
    ok(dagger(stack, *args, "-o", str(tmp_path / "dist"), cwd=repo))
    by_cli = f"{stack.registry_a}/{repo_name}-cli"
    digests = (tools.digest(f"{by_toolchain}:1.2.3"), cli_digest(stack, tools, repo, by_cli))
    print(f"toolchain {digests[0]}, cli {digests[1]}")
    assert digests[0] == digests[1]
