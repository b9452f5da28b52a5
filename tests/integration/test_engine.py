"""The stack's engine for real: foreign platforms under QEMU, and a multi-platform image it publishes.

Results are read back from the host with crane, never from the engine's own answers alone.
"""

from __future__ import annotations

import io
import tarfile

import dagger
import pytest
from dagger import dag

from tests.integration.conftest import Stack
from tests.integration.engine import run_in_engine
from tests.integration.tools import Tools

pytestmark = pytest.mark.integration

PLATFORMS = {"linux/amd64": "x86_64", "linux/arm64": "aarch64", "linux/arm/v7": "armv7l"}


@pytest.mark.parametrize(("platform", "machine"), [("linux/arm64", "aarch64"), ("linux/arm/v7", "armv7l")])
def test_foreign_platform_runs_under_qemu(stack: Stack, platform: str, machine: str) -> None:
    async def uname() -> str:
        ctr = dag.container(platform=dagger.Platform(platform)).from_(stack.images["base"])
        return (await ctr.with_exec(["uname", "-m"]).stdout()).strip()

    assert run_in_engine(uname) == machine


def test_engine_publishes_a_three_platform_image_built_from_a_dockerfile(stack: Stack, tools: Tools, repo_name: str) -> None:
    ref = f"{stack.registry_a}/{repo_name}:multi"
    dockerfile = f"FROM {stack.images['base']}\nRUN uname -m > /machine\n"

    async def publish() -> str:
        src = dag.directory().with_new_file("Dockerfile", dockerfile)
        variants = [src.docker_build(platform=dagger.Platform(p)) for p in PLATFORMS]
        return await dag.container().publish(ref, platform_variants=variants)

    run_in_engine(publish)

    index = tools.manifest(ref)
    published = {_platform(m["platform"]) for m in index["manifests"]}
    assert published == set(PLATFORMS)
    for platform, machine in PLATFORMS.items():
        assert _file_in_image(tools, ref, platform, "machine") == machine


def _platform(p: dict[str, str]) -> str:
    return "/".join(filter(None, (p["os"], p["architecture"], p.get("variant"))))


def _file_in_image(tools: Tools, ref: str, platform: str, path: str) -> str:
    proc = tools.run_bytes("crane", "export", "--platform", platform, ref, "-")
    with tarfile.open(fileobj=io.BytesIO(proc), mode="r|*") as tar:
        for member in tar:
            if member.name.lstrip("./") == path:
                extracted = tar.extractfile(member)
                assert extracted is not None
                return extracted.read().decode().strip()
    raise AssertionError(f"{path} not found in {ref} ({platform})")
