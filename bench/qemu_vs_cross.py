"""The same Go build for linux/arm64, twice: under QEMU in an arm64 Go image, and cross-compiled.

The fixture's Dockerfile cross-compiles (``FROM --platform=$BUILDPLATFORM``: the amd64 Go image
with ``GOARCH=arm64``); the emulated variant runs ``go build`` in an arm64 Go image, which is
what a Dockerfile without ``--platform=$BUILDPLATFORM`` does. The stack's Go image is amd64
only, so the arm64 one is made here: the stack's multi-arch base for linux/arm64 plus the
official Go toolchain for linux-arm64, which the Go module proxy serves as the module
``golang.org/toolchain@v0.0.1-go<VERSION>.linux-arm64`` (fetched with ``go mod download``, as
ci/lib/images.sh fetches the amd64 one) and kept in ~/.cache/shipyard-bench.

Everything before the build is synced first (warm); the ``go build`` step alone gets a fresh
cache key, so it really runs, with an empty Go build cache, in both variants. Prints JSON:
``{"qemu_s": …, "cross_s": …}``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import anyio
import dagger
from dagger import dag

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "app"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "shipyard-bench"
GO_ENV = {
    "PATH": "/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "GOTOOLCHAIN": "local",
    "CGO_ENABLED": "0",
    "GOPATH": "/root/go",
    "GOCACHE": "/root/.cache/go-build",
    "HOME": "/root",
}
# The fixture Dockerfile's build command.
GO_BUILD = ["go", "build", "-trimpath", "-ldflags", "-s -w -buildid=", "-o", "/out/app", "."]


def go_version(golang_image: str) -> str:
    """The Go version of the stack's image (``…/golang:1.26.5@sha256:…``), so both builds use the same Go."""
    return golang_image.split("@", 1)[0].rsplit(":", 1)[1]


def arm64_toolchain(version: str) -> Path:
    """The linux-arm64 Go toolchain as a directory tree with the modes a Go install has (cached)."""
    tree = CACHE / f"go{version}.linux-arm64"
    if (tree / "bin" / "go").is_file():
        return tree
    module = f"golang.org/toolchain@v0.0.1-go{version}.linux-arm64"
    proc = subprocess.run(["go", "mod", "download", "-json", module], capture_output=True, text=True, check=True)
    source = Path(json.loads(proc.stdout)["Dir"])
    partial = tree.with_name(tree.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(source, partial)
    # Module zips carry no modes (the module cache is read-only): directories 0755, files 0644,
    # the commands and tools 0755.
    for path in [partial, *partial.rglob("*")]:
        executable = path.is_dir() or path.parent.name == "bin" or "pkg/tool/" in path.relative_to(partial).as_posix()
        path.chmod(0o755 if executable else 0o644)
    partial.rename(tree)
    assert stat.S_IMODE((tree / "bin" / "go").stat().st_mode) == 0o755
    return tree


async def timed_build(container: dagger.Container) -> float:
    """Sync everything before the build, then time the ``go build`` step alone (cache busted)."""
    await container.sync()
    started = time.monotonic()
    built = container.with_env_variable("BENCH_BUILD", uuid.uuid4().hex).with_exec(GO_BUILD)
    await built.file("/out/app").size()
    return time.monotonic() - started


async def run(args: argparse.Namespace) -> dict[str, float]:
    images: dict[str, str] = json.loads(Path(os.environ["SHIPYARD_STACK_IMAGES"]).read_text())
    toolchain = arm64_toolchain(go_version(images["golang"]))
    with open(args.log, "w") as log:
        async with dagger.connection(dagger.Config(log_output=log)):
            source = dag.host().directory(str(FIXTURE), include=["go.mod", "main.go"])
            emulated = dag.container(platform=dagger.Platform("linux/arm64")).from_(images["base"])
            emulated = emulated.with_directory("/usr/local/go", dag.host().directory(str(toolchain)))
            for name, value in GO_ENV.items():
                emulated = emulated.with_env_variable(name, value)
            emulated = emulated.with_directory("/src", source).with_workdir("/src")
            cross = dag.container(platform=dagger.Platform("linux/amd64")).from_(images["golang"])
            cross = cross.with_directory("/src", source).with_workdir("/src")
            cross = cross.with_env_variable("GOOS", "linux").with_env_variable("GOARCH", "arm64").with_env_variable("CGO_ENABLED", "0")
            cross_s = await timed_build(cross)
            qemu_s = await timed_build(emulated)
    return {"qemu_s": round(qemu_s, 3), "cross_s": round(cross_s, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--log", default=os.devnull, help="where the engine's progress goes")
    json.dump(anyio.run(run, parser.parse_args()), sys.stdout)
    print()


if __name__ == "__main__":
    main()
