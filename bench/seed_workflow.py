"""The seed workflow's release (``release-docker.yml``), step after step, as a Dagger SDK script.

The baseline Shipyard is compared with: the same engine, tool images and fixture, but the
seed's way, one step after the other in the workflow's order:

1. build+push: the engine's own multi-platform Dockerfile build, ``Container.publish`` with
   ``platform_variants`` to each registry in turn (what docker/build-push-action does);
2. SBOM: syft on the index reference (SPDX JSON), then ``cosign attest`` it, per registry;
3. sign: ``cosign sign`` the index by digest, per registry;
4. scan: trivy on one platform (linux/amd64) with the gate and the ignore file.

``--same-work``: the seed's way (one step after another, one tool container per operation, as
its shell runs them) doing Shipyard's full work: an SBOM per platform (syft on that platform's
manifest), attested to that platform's manifest and to the index in every registry, SLSA
provenance attested to the index in every registry, ``cosign sign --recursive`` in every
registry, every platform scanned with the gate. The platform digests are read from the
registry's index (what ``docker buildx imagetools inspect`` does: no container).

Written against the SDK only (no Shipyard import), so the comparison is honest. Prints one
JSON object: the wall time of each step and the digests pushed.

    python -m bench.seed_workflow --registry 127.0.0.1:5000 --registry 127.0.0.1:5001=USER:PASSWORD_FILE \\
        --repository bench/seed-1 --key cosign.key --password-env BENCH_COSIGN_PASSWORD --trivyignore F
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import anyio
import dagger
from dagger import dag

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "app"
PLATFORMS = ("linux/amd64", "linux/arm64", "linux/arm/v7")
TRIVY_CACHE = "/trivy"


@dataclass(frozen=True)
class Registry:
    """A loopback registry, as the engine (``address``) and the tool containers (``alias``) reach it."""

    address: str  # 127.0.0.1:5000
    username: str = ""
    password: str = ""

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    @property
    def alias(self) -> str:
        return f"registry-{self.port}"

    @property
    def inside(self) -> str:
        return f"{self.alias}:{self.port}"


def parse_registry(text: str) -> Registry:
    """``HOST:PORT`` or ``HOST:PORT=USER:PASSWORD_FILE``."""
    address, _, auth = text.partition("=")
    if not auth:
        return Registry(address)
    username, _, password_file = auth.partition(":")
    return Registry(address, username, Path(password_file).read_text().strip())


class SeedRelease:
    """The seed workflow's steps over one Dagger session."""

    def __init__(self, registries: list[Registry], repository: str, tools: dict[str, str], key: str, password: str) -> None:
        self.registries = registries
        self.repository = repository
        self.tools = tools
        self.key = dag.set_secret("seed-cosign-key", key)
        self.password = dag.set_secret("seed-cosign-password", password)
        auths = {r.inside: {"auth": base64.b64encode(f"{r.username}:{r.password}".encode()).decode()} for r in registries if r.username}
        self.docker_config = dag.set_secret("seed-docker-config", json.dumps({"auths": auths}))

    def tool(self, name: str) -> dagger.Container:
        """A tool container with every loopback registry bound under its alias (a fresh cache key:
        a tool talks to registries, whose state the engine's cache cannot see)."""
        container = dag.container().from_(self.tools[name]).with_env_variable("SEED_RUN", uuid.uuid4().hex)
        for registry in self.registries:
            service = dag.host().service([dagger.PortForward(backend=registry.port, frontend=registry.port)])
            container = container.with_service_binding(registry.alias, service)
        container = container.with_env_variable("DOCKER_CONFIG", "/seed/docker")
        return container.with_mounted_secret("/seed/docker/config.json", self.docker_config)

    def cosign(self) -> dagger.Container:
        return self.tool("cosign").with_mounted_secret("/seed/cosign.key", self.key).with_secret_variable("COSIGN_PASSWORD", self.password)

    async def build_and_push(self, platforms: list[str], build_args: dict[str, str], tag: str) -> dict[str, str]:
        source = dag.host().directory(str(FIXTURE))
        args = [dagger.BuildArg(name=k, value=v) for k, v in sorted(build_args.items())]
        variants = [source.docker_build(platform=dagger.Platform(p), build_args=args) for p in platforms]
        digests = {}
        for registry in self.registries:  # build-push-action pushes to its tags' registries in turn
            container = dag.container()
            if registry.username:
                secret = dag.set_secret(f"seed-registry-{registry.port}", registry.password)
                container = container.with_registry_auth(registry.address, registry.username, secret)
            published = await container.publish(f"{registry.address}/{self.repository}:{tag}", platform_variants=variants)
            digests[registry.address] = published.rsplit("@", 1)[1]
        return digests

    async def sbom_and_attest(self, digests: dict[str, str]) -> None:
        for registry in self.registries:
            reference = f"{registry.inside}/{self.repository}@{digests[registry.address]}"
            sbom = await (
                self.tool("syft")
                .with_env_variable("SYFT_CHECK_FOR_APP_UPDATE", "false")
                .with_env_variable("SYFT_REGISTRY_INSECURE_USE_HTTP", "true")
                .with_exec(["syft", "scan", f"registry:{reference}", "-o", "spdx-json", "-q"], use_entrypoint=False)
                .stdout()
            )
            attest = ["cosign", "attest", "--yes", "--key", "/seed/cosign.key", "--tlog-upload=false", "--type", "spdxjson",
                      "--predicate", "/seed/sbom.spdx.json", "--allow-insecure-registry", "--allow-http-registry", reference]  # fmt: skip
            await self.cosign().with_new_file("/seed/sbom.spdx.json", sbom).with_exec(attest, use_entrypoint=False).sync()

    async def sign(self, digests: dict[str, str]) -> None:
        for registry in self.registries:
            reference = f"{registry.inside}/{self.repository}@{digests[registry.address]}"
            sign = ["cosign", "sign", "--yes", "--key", "/seed/cosign.key", "--tlog-upload=false",
                    "--allow-insecure-registry", "--allow-http-registry", reference]  # fmt: skip
            await self.cosign().with_exec(sign, use_entrypoint=False).sync()

    async def scan(self, digests: dict[str, str], trivyignore: str, platform: str = "linux/amd64") -> None:
        registry = self.registries[0]
        reference = f"{registry.inside}/{self.repository}@{digests[registry.address]}"
        container = self.tool("trivy").with_new_file("/seed/.trivyignore", trivyignore)
        args = ["trivy", "image", "--platform", platform, "--cache-dir", TRIVY_CACHE, "--scanners", "vuln", "--severity",
                "CRITICAL,HIGH", "--exit-code", "1", "--ignorefile", "/seed/.trivyignore", "--insecure", "--quiet"]  # fmt: skip
        if self.tools.get("trivy_db"):
            db = dag.container().from_(self.tools["trivy_db"]).directory("/db")
            container = container.with_mounted_directory(f"{TRIVY_CACHE}/db", db)
            args += ["--skip-db-update", "--skip-java-db-update", "--offline-scan"]
        await container.with_exec([*args, reference], use_entrypoint=False).sync()

    # --- the same work as Shipyard, the seed's way -------------------------------------------

    def platform_digests(self, digests: dict[str, str]) -> dict[str, str]:
        """Platform -> manifest digest, from the first registry's index (plain HTTP, as a client)."""
        registry = self.registries[0]
        url = f"http://{registry.address}/v2/{self.repository}/manifests/{digests[registry.address]}"
        request = urllib.request.Request(url, headers={"Accept": "application/vnd.oci.image.index.v1+json"})
        if registry.username:
            token = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            index = json.loads(response.read())
        out = {}
        for entry in index["manifests"]:
            p = entry.get("platform", {})
            if p.get("os") in (None, "unknown"):
                continue
            out["/".join(x for x in (p["os"], p["architecture"], p.get("variant", "")) if x)] = entry["digest"]
        return out

    async def sbom_per_platform(self, digests: dict[str, str], platforms: dict[str, str]) -> dict[str, str]:
        registry = self.registries[0]
        sboms = {}
        for platform, digest in platforms.items():
            reference = f"{registry.inside}/{self.repository}@{digest}"
            sboms[platform] = await (
                self.tool("syft")
                .with_env_variable("SYFT_CHECK_FOR_APP_UPDATE", "false")
                .with_env_variable("SYFT_REGISTRY_INSECURE_USE_HTTP", "true")
                .with_exec(["syft", "scan", f"registry:{reference}", "-o", "spdx-json", "-q"], use_entrypoint=False)
                .stdout()
            )
        return sboms

    async def attest(self, reference: str, kind: str, predicate: str) -> None:
        attest = ["cosign", "attest", "--yes", "--key", "/seed/cosign.key", "--tlog-upload=false", "--type", kind,
                  "--predicate", "/seed/predicate.json", "--allow-insecure-registry", "--allow-http-registry", reference]  # fmt: skip
        await self.cosign().with_new_file("/seed/predicate.json", predicate).with_exec(attest, use_entrypoint=False).sync()

    async def attest_sboms(self, digests: dict[str, str], platforms: dict[str, str], sboms: dict[str, str]) -> None:
        for registry in self.registries:
            for platform, digest in platforms.items():
                for subject in (digest, digests[registry.address]):  # the platform's manifest, then the index
                    await self.attest(f"{registry.inside}/{self.repository}@{subject}", "spdxjson", sboms[platform])

    async def attest_provenance(self, digests: dict[str, str], platforms: dict[str, str]) -> None:
        predicate = json.dumps({"buildDefinition": {"buildType": "seed", "externalParameters": {"platforms": platforms}},
                                "runDetails": {"builder": {"id": "seed"}}})  # fmt: skip
        for registry in self.registries:
            reference = f"{registry.inside}/{self.repository}@{digests[registry.address]}"
            await self.attest(reference, "https://slsa.dev/provenance/v1", predicate)

    async def sign_recursive(self, digests: dict[str, str]) -> None:
        for registry in self.registries:
            reference = f"{registry.inside}/{self.repository}@{digests[registry.address]}"
            sign = ["cosign", "sign", "--yes", "--recursive", "--key", "/seed/cosign.key", "--tlog-upload=false",
                    "--allow-insecure-registry", "--allow-http-registry", reference]  # fmt: skip
            await self.cosign().with_exec(sign, use_entrypoint=False).sync()


async def run(args: argparse.Namespace) -> dict[str, object]:
    tools: dict[str, str] = json.loads(Path(os.environ["SHIPYARD_TOOL_IMAGES"]).read_text())
    registries = [parse_registry(r) for r in args.registry]
    build_args = dict(a.split("=", 1) for a in args.build_arg)
    steps: dict[str, float] = {}
    with open(args.log, "w") as log:
        async with dagger.connection(dagger.Config(log_output=log)):
            seed = SeedRelease(registries, args.repository, tools, Path(args.key).read_text(), os.environ[args.password_env])
            started = time.monotonic()
            digests = await seed.build_and_push(args.platform.split(","), build_args, args.tag)
            steps["build+push"] = time.monotonic() - started
            trivyignore = Path(args.trivyignore).read_text()
            if args.same_work:
                started = time.monotonic()
                platforms = seed.platform_digests(digests)
                sboms = await seed.sbom_per_platform(digests, platforms)
                steps["sbom"] = time.monotonic() - started
                started = time.monotonic()
                await seed.attest_sboms(digests, platforms, sboms)
                steps["attest"] = time.monotonic() - started
                started = time.monotonic()
                await seed.attest_provenance(digests, platforms)
                steps["provenance"] = time.monotonic() - started
                started = time.monotonic()
                await seed.sign_recursive(digests)
                steps["sign"] = time.monotonic() - started
                started = time.monotonic()
                for platform in platforms:
                    await seed.scan(digests, trivyignore, platform)
                steps["scan"] = time.monotonic() - started
            else:
                started = time.monotonic()
                await seed.sbom_and_attest(digests)
                steps["sbom"] = time.monotonic() - started
                started = time.monotonic()
                await seed.sign(digests)
                steps["sign"] = time.monotonic() - started
                started = time.monotonic()
                await seed.scan(digests, trivyignore)
                steps["scan"] = time.monotonic() - started
    return {"digests": digests, "timings": {k: round(v, 3) for k, v in steps.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--registry", action="append", required=True, help="HOST:PORT[=USER:PASSWORD_FILE], in push order")
    parser.add_argument("--repository", required=True)
    parser.add_argument("--tag", default="1.2.3")
    parser.add_argument("--platform", default=",".join(PLATFORMS))
    parser.add_argument("--build-arg", action="append", default=[], help="NAME=VALUE for the Dockerfile")
    parser.add_argument("--key", required=True, help="the cosign private key file")
    parser.add_argument("--password-env", required=True, help="the variable holding the key's password")
    parser.add_argument("--trivyignore", required=True)
    parser.add_argument("--log", default=os.devnull, help="where the engine's progress goes")
    parser.add_argument("--same-work", action="store_true", help="Shipyard's full work, the seed's way (see the module's doc)")
    result = anyio.run(run, parser.parse_args())
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
