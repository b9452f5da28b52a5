"""Tool containers, built in one place: the pinned image, the registries bound, auth as a Secret.

Containers in the engine reach public registries directly. A registry on the caller's loopback
(``127.0.0.1:5000``, ``localhost:5000``) is not reachable from inside the engine, so it is bound
into each tool container as a service under an alias (``registry-5000:5000``), and references
to it are rewritten for the container; the user's reference stays what reports show.
Registry credentials reach the tool as one Docker config file mounted from a ``dagger.Secret``.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field

import anyio
import dagger
from dagger import dag

from shipyard.plan.config import is_loopback_registry
from shipyard.plan.refs import parse_reference
from shipyard.secrets import Credentials

DOCKER_CONFIG = "/shipyard/docker"


@dataclass(frozen=True)
class RegistryEndpoint:
    """How Shipyard's own process and its tool containers reach one registry."""

    registry: str  # as users write it: ghcr.io, 127.0.0.1:5000
    host: str  # as tool containers reach it: ghcr.io, registry-5000:5000
    address: str = ""  # as this process reaches it (default: the registry itself)
    service: dagger.Service | None = None
    insecure: bool = False  # plain HTTP

    @property
    def direct(self) -> str:
        return self.address or self.registry


def loopback_alias(registry: str) -> str:
    port = registry.rsplit(":", 1)[1] if ":" in registry else "80"
    return f"registry-{port}"


def host_endpoint(registry: str) -> RegistryEndpoint:
    """The endpoint for a registry as the client's host sees it (client mode only: ``dag.host()``)."""
    if not is_loopback_registry(registry):
        return RegistryEndpoint(registry=registry, host=registry)
    port = int(registry.rsplit(":", 1)[1]) if ":" in registry else 80
    service = dag.host().service([dagger.PortForward(backend=port, frontend=port)])
    return RegistryEndpoint(registry=registry, host=f"{loopback_alias(registry)}:{port}", service=service, insecure=True)


async def module_endpoints(services: Iterable[dagger.Service]) -> dict[str, RegistryEndpoint]:
    """Endpoints for loopback registries handed to a module as Services (``--registry tcp://localhost:5000``).

    A module cannot reach the caller's loopback itself; each service stands for the loopback
    registries on its port (``localhost:P``, ``127.0.0.1:P``).
    """
    out: dict[str, RegistryEndpoint] = {}
    for service in services:
        for port in [await p.port() for p in await service.ports()]:
            address = await service.endpoint(port=port)
            for host in ("localhost", "127.0.0.1"):
                registry = f"{host}:{port}"
                out[registry] = RegistryEndpoint(
                    registry=registry, host=f"registry-{port}:{port}", address=address, service=service, insecure=True
                )
    return out


@dataclass
class RegistryAccess:
    """Every registry a release touches: endpoints, credentials, and the references tools use."""

    endpoints: dict[str, RegistryEndpoint]
    credentials: Mapping[str, Credentials] = field(default_factory=dict)
    _auth: dagger.Secret | None = None

    def endpoint(self, registry: str) -> RegistryEndpoint:
        return self.endpoints.get(registry) or RegistryEndpoint(registry=registry, host=registry)

    def inside(self, reference: str) -> str:
        """``127.0.0.1:5000/acme/app@sha256:…`` as a tool container must write it."""
        ref = parse_reference(reference)
        host = self.endpoint(ref.registry).host
        if host == ref.registry:
            return str(ref)
        return f"{host}/{ref.repository}" + (f":{ref.tag}" if ref.tag else "") + (f"@{ref.digest}" if ref.digest else "")

    def insecure(self, registries: Iterable[str]) -> bool:
        return any(self.endpoint(r).insecure for r in registries)

    def auth_secret(self) -> dagger.Secret | None:
        """One Docker config naming every registry with credentials, as a Secret (built once)."""
        if self._auth is None and self.credentials:
            auths = {}
            for registry, cred in sorted(self.credentials.items()):
                token = base64.b64encode(f"{cred.username}:{cred.password.reveal()}".encode()).decode()
                auths[self.endpoint(registry).host] = {"auth": token}
            self._auth = dag.set_secret(f"shipyard-registry-auth-{uuid.uuid4().hex}", json.dumps({"auths": auths}))
        return self._auth

    def attach(self, container: dagger.Container) -> dagger.Container:
        """Bind the loopback registries and mount the credentials into a tool container."""
        for endpoint in sorted(self.endpoints.values(), key=lambda e: e.registry):
            if endpoint.service is not None:
                container = container.with_service_binding(endpoint.host.split(":", 1)[0], endpoint.service)
        secret = self.auth_secret()
        container = container.with_env_variable("DOCKER_CONFIG", DOCKER_CONFIG)
        if secret is not None:
            container = container.with_mounted_secret(f"{DOCKER_CONFIG}/config.json", secret)
        return container


async def ephemeral_registry_service(image: str, name: str) -> dagger.Service:
    """A registry run as a service in the engine for the zero-config release; started now so it
    keeps its content until the session ends (a bound-only service restarts empty)."""
    port = int(name.rpartition(":")[2])
    service = dag.container().from_(image).with_exposed_port(port).as_service(use_entrypoint=True)
    return await service.start()


@contextlib.asynccontextmanager
async def host_tunnel(service: dagger.Service, port: int) -> AsyncIterator[str]:
    """Reach a service in the engine from this machine (client mode): a tunnel on a free
    loopback port, open while the context is; yields ``127.0.0.1:PORT``."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        local = probe.getsockname()[1]
    address = f"127.0.0.1:{local}"
    async with anyio.create_task_group() as group:
        group.start_soon(functools.partial(service.up, ports=[dagger.PortForward(frontend=local, backend=port)]))
        for _ in range(150):
            with contextlib.suppress(OSError):
                await (await anyio.connect_tcp("127.0.0.1", local)).aclose()
                break
            await anyio.sleep(0.2)
        try:
            yield address
        finally:
            group.cancel_scope.cancel()


def tool_container(image: str, access: RegistryAccess) -> dagger.Container:
    """A container of a pinned tool image with the registries attached.

    Every call gets a fresh cache key: a tool talks to registries, whose state the engine's
    cache cannot see (a re-push after a registry was wiped must really run).
    """
    base = dag.container().from_(image).with_env_variable("SHIPYARD_RUN", uuid.uuid4().hex)
    return access.attach(base)


KEY_PATH = "/run/shipyard/cosign.key"


@dataclass(frozen=True)
class SigningKey:
    """A cosign private key and its password, as Secrets (mounted and set, never arguments)."""

    key: dagger.Secret
    password: dagger.Secret | None = None


def cosign_container(image: str, access: RegistryAccess, key: SigningKey) -> dagger.Container:
    """The cosign tool container with the key mounted at ``KEY_PATH`` and its password set."""
    container = tool_container(image, access).with_mounted_secret(KEY_PATH, key.key)
    if key.password is not None:
        return container.with_secret_variable("COSIGN_PASSWORD", key.password)
    return container.with_env_variable("COSIGN_PASSWORD", "")


async def attest(image: str, access: RegistryAccess, reference: str, predicate: str, kind: str, key: SigningKey) -> str | None:
    """``cosign attest --type KIND`` a predicate (SBOMs and provenance alike) to ``reference`` (by digest); the error line, or None."""
    container = cosign_container(image, access, key).with_new_file("/run/shipyard/predicate.json", predicate)
    args = ["cosign", "attest", "--yes", "--tlog-upload=false", "--key", KEY_PATH, "--type", kind]
    args += ["--predicate", "/run/shipyard/predicate.json"]
    if access.insecure([reference.split("/", 1)[0]]):
        args += ["--allow-insecure-registry", "--allow-http-registry"]
    try:
        await container.with_exec([*args, access.inside(reference)], use_entrypoint=False).sync()
    except dagger.ExecError as exc:
        lines = (exc.stderr or exc.stdout).strip().splitlines()
        return lines[-1] if lines else f"cosign exited with {exc.exit_code}"
    return None
