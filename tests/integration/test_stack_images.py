"""The stack's own images work inside the real engine (issue 12 acceptance).

Each test runs a tool image from ``images.json`` (ci/lib/images.sh) in the Dagger engine and reads
the outcome back on the host with independent means: the host crane and cosign, the base image's
own dpkg database, the ELF header of a built binary.
"""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import dagger
import pytest
from dagger import dag

from tests.integration.conftest import Stack
from tests.integration.engine import registry_service, run_in_engine
from tests.integration.tools import Tools

pytestmark = pytest.mark.integration

BASE_PLATFORMS = ["linux/amd64", "linux/arm64", "linux/arm/v7"]
SYNTHETIC_ADVISORY = "CVE-2099-0001"  # ci/trivydb: coreutils in Debian 12, HIGH, fixed in 99.0-1
ELF_MACHINES = {62: "x86_64", 183: "aarch64", 40: "arm"}
# Every run really executes in the engine (a cached exec from an earlier run proves nothing now).
NONCE = uuid.uuid4().hex


@dataclass(frozen=True)
class Images:
    """images.json: every image the stack built, pinned by digest."""

    cosign: str
    syft: str
    trivy: str
    crane: str
    trivy_db: str
    base: str
    golang: str


@pytest.fixture(scope="session")
def images(stack: Stack) -> Images:
    return Images(**stack.images)


def dpkg_status(tools: Tools, ref: str, platform: str) -> dict[str, str]:
    """Package -> Version from the image's /var/lib/dpkg/status, read with the host crane."""
    text = image_file(tools, ref, platform, "var/lib/dpkg/status").decode()
    packages = {}
    for stanza in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and not line.startswith(" "))
        packages[fields["Package"]] = fields["Version"]
    return packages


def image_file(tools: Tools, ref: str, platform: str, path: str) -> bytes:
    """One file of an image's filesystem, exported by the host crane."""
    exported = tools.run_bytes("crane", "export", "--platform", platform, ref, "-")
    with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
        member = tar.extractfile(path)
        assert member is not None, f"{path} is not a regular file in {ref} ({platform})"
        return member.read()


def elf_machine(data: bytes) -> str:
    assert data[:4] == b"\x7fELF", "not an ELF file"
    machine = int.from_bytes(data[18:20], "little" if data[5] == 1 else "big")
    return ELF_MACHINES.get(machine, str(machine))


def base_container(images: Images, platform: str) -> dagger.Container:
    return dag.container(platform=dagger.Platform(platform)).from_(images.base)


# --- syft --------------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", BASE_PLATFORMS)
def test_syft_in_the_engine_lists_the_base_images_dpkg_packages(images: Images, tools: Tools, tmp_path: Path, platform: str) -> None:
    sbom_path = tmp_path / "sbom.spdx.json"

    async def scan() -> None:
        sbom = (
            dag.container()
            .from_(images.syft)
            .with_env_variable("NONCE", NONCE)
            .with_mounted_file("/in/image.tar", base_container(images, platform).as_tarball())
            .with_exec(["syft", "scan", "oci-archive:/in/image.tar", "--output", "spdx-json=/out/sbom.json"])
            .file("/out/sbom.json")
        )
        await sbom.export(str(sbom_path))

    run_in_engine(scan)
    sbom = json.loads(sbom_path.read_text())
    assert sbom["spdxVersion"].startswith("SPDX-2.")
    purls = {
        ref["referenceLocator"]
        for pkg in sbom["packages"]
        for ref in pkg.get("externalRefs", [])
        if ref["referenceType"] == "purl" and ref["referenceLocator"].startswith("pkg:deb/debian/")
    }
    listed = {unquote(purl.split("/")[2].split("@")[0]): unquote(purl.split("@")[1].split("?")[0]) for purl in purls}
    installed = dpkg_status(tools, images.base, platform)
    assert {"coreutils", "dash", "libc6", "base-files"} <= installed.keys()
    assert listed == installed
    arch = {"linux/amd64": "amd64", "linux/arm64": "arm64", "linux/arm/v7": "armhf"}[platform]
    assert all(f"arch={arch}" in purl for purl in purls)


# --- trivy -------------------------------------------------------------------------------------

# Offline: the DB image's /db mounted at <cache-dir>/db, no DB download, no Java DB, no lookups.
TRIVY_SCAN = [
    "trivy",
    "image",
    "--input",
    "/in/image.tar",
    "--cache-dir",
    "/cache",
    "--skip-db-update",
    "--skip-java-db-update",
    "--offline-scan",
    "--scanners",
    "vuln",
    "--format",
    "json",
    "--output",
    "/out/report.json",
]


def test_trivy_in_the_engine_finds_the_synthetic_high_advisory_offline(images: Images, tools: Tools, tmp_path: Path) -> None:
    report_path = tmp_path / "trivy.json"

    async def scan() -> None:
        db = dag.container().from_(images.trivy_db).directory("/db")
        report = (
            dag.container()
            .from_(images.trivy)
            .with_env_variable("NONCE", NONCE)
            .with_mounted_directory("/cache/db", db)
            .with_directory("/out", dag.directory())
            .with_mounted_file("/in/image.tar", base_container(images, "linux/amd64").as_tarball())
            .with_exec(TRIVY_SCAN)
            .file("/out/report.json")
        )
        await report.export(str(report_path))

    run_in_engine(scan)
    report = json.loads(report_path.read_text())
    assert report["Metadata"]["OS"] == {"Family": "debian", "Name": report["Metadata"]["OS"]["Name"]}
    assert report["Metadata"]["OS"]["Name"].startswith("12.")
    found = [v for result in report["Results"] for v in result.get("Vulnerabilities", [])]
    assert [(v["VulnerabilityID"], v["PkgName"], v["Severity"], v["FixedVersion"]) for v in found] == [
        (SYNTHETIC_ADVISORY, "coreutils", "HIGH", "99.0-1")
    ]
    assert found[0]["InstalledVersion"] == dpkg_status(tools, images.base, "linux/amd64")["coreutils"]
    assert "SYNTHETIC" in found[0]["Title"]


# --- Go cross-compile --------------------------------------------------------------------------

DOCKERFILE = """\
ARG GOLANG
ARG BASE
FROM --platform=$BUILDPLATFORM ${GOLANG} AS build
ARG TARGETARCH
WORKDIR /src
COPY go.mod main.go ./
RUN GOARCH=$TARGETARCH go build -trimpath -o /out/hello . && uname -m > /out/built-on
FROM ${BASE}
COPY --from=build /out/ /opt/hello/
RUN /opt/hello/hello > /opt/hello/said && uname -m > /opt/hello/ran-on
"""
MAIN_GO = 'package main\n\nimport (\n\t"fmt"\n\t"runtime"\n)\n\nfunc main() { fmt.Println("hello from", runtime.GOARCH) }\n'


def test_go_cross_compiles_for_arm64_on_the_amd64_builder(images: Images, stack: Stack, tools: Tools, repo_name: str) -> None:
    ref = f"{stack.registry_a}/{repo_name}:arm64"

    async def build() -> str:
        context = (
            dag.directory()
            .with_new_file("Dockerfile", DOCKERFILE)
            .with_new_file("go.mod", f"module hello\n\ngo 1.22\n// {NONCE}\n")
            .with_new_file("main.go", MAIN_GO)
        )
        image = context.docker_build(
            platform=dagger.Platform("linux/arm64"),
            build_args=[dagger.BuildArg("GOLANG", images.golang), dagger.BuildArg("BASE", images.base)],
        )
        return await image.publish(ref)

    run_in_engine(build)
    config = json.loads(tools.run("crane", "config", ref).stdout)
    assert (config["os"], config["architecture"]) == ("linux", "arm64")
    assert elf_machine(image_file(tools, ref, "linux/arm64", "opt/hello/hello")) == "aarch64"
    assert image_file(tools, ref, "linux/arm64", "opt/hello/built-on").decode().strip() == "x86_64"
    assert image_file(tools, ref, "linux/arm64", "opt/hello/ran-on").decode().strip() == "aarch64"
    assert image_file(tools, ref, "linux/arm64", "opt/hello/said").decode().strip() == "hello from arm64"


# --- cosign ------------------------------------------------------------------------------------

# No transparency log offline; registry B speaks plain HTTP.
COSIGN_SIGN = [
    "cosign",
    "sign",
    "--key",
    "/keys/cosign.key",
    "--tlog-upload=false",
    "--yes",
    "--allow-insecure-registry",
    "--allow-http-registry",
]


def test_cosign_in_the_engine_signs_in_registry_b_and_the_host_cosign_verifies(
    images: Images, stack: Stack, tools: Tools, repo_name: str, tmp_path: Path
) -> None:
    port = stack.registry_b.rsplit(":", 1)[1]
    ref = f"{stack.registry_b}/{repo_name}:signed"
    pub = tmp_path / "cosign.pub"

    async def sign() -> str:
        password = dag.set_secret("registry-b-password", stack.password_b)
        key_password = dag.set_secret("cosign-key-password", f"key-{NONCE}")
        # The engine pushes to the host's loopback itself; processes inside containers reach
        # the registry only through a host service bound under a name.
        published = await (
            base_container(images, "linux/amd64")
            .with_new_file("/signed-by-test", NONCE)
            .with_registry_auth(stack.registry_b, stack.username_b, password)
            .publish(ref)
        )
        digest = published.rsplit("@", 1)[1]
        registry = registry_service(stack.registry_b)
        auth = json.dumps({"auths": {f"registry-b:{port}": {"username": stack.username_b, "password": stack.password_b}}})
        keys = (
            dag.container()
            .from_(images.cosign)
            .with_env_variable("NONCE", NONCE)
            .with_secret_variable("COSIGN_PASSWORD", key_password)
            .with_workdir("/keys")
            .with_exec(["cosign", "generate-key-pair"])
            .directory("/keys")
        )
        await keys.file("cosign.pub").export(str(pub))
        await (
            dag.container()
            .from_(images.cosign)
            .with_service_binding("registry-b", registry)
            .with_mounted_secret("/root/.docker/config.json", dag.set_secret("registry-b-docker-config", auth))
            .with_secret_variable("COSIGN_PASSWORD", key_password)
            .with_mounted_directory("/keys", keys)
            .with_exec([*COSIGN_SIGN, f"registry-b:{port}/{repo_name}@{digest}"])
            .sync()
        )
        return digest

    digest = run_in_engine(sign)
    assert tools.digest(ref) == digest
    assert f"{digest.replace(':', '-')}.sig" in tools.tags(f"{stack.registry_b}/{repo_name}")
    assert tools.verify(f"{stack.registry_b}/{repo_name}@{digest}", pub)
    _, other_pub = tools.keypair("not-the-signer")
    assert not tools.verify(f"{stack.registry_b}/{repo_name}@{digest}", other_pub)
