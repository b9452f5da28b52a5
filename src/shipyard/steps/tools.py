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
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import anyio
import dagger
from dagger import dag

from shipyard.errors import GateFailed, InvalidInput
from shipyard.secrets import Credentials
from shipyard.supply_chain.cosign import (
    KEY_PATH,
    TOKEN_PATH,
    TRUST_FILES,
    TRUSTED_ROOT_PATH,
    SigningIdentity,
    explain_signing_error,
    loopback_address,
    trust_files,
)
from shipyard.supply_chain.toolrun import (
    OUT_DIR,
    PARALLEL,
    PLAN_DIR,
    TOOLRUN,
    ToolCommand,
    ToolResult,
    ToolrunOutputError,
    parse_results,
    toolrun_plan,
)
from shipyard.values.platforms import Platform
from shipyard.values.refs import DOCKER_HUB, DOCKER_HUB_CONFIG_KEY, ImageRef, Registry, parse_reference

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
    def target(self) -> Registry:
        """The registry as a value: plain HTTP when bound as a loopback service, else as the
        registry's name decides (loopback: http, anything else: https)."""
        return Registry(self.registry, True if self.insecure else None)

    @property
    def direct(self) -> str:
        return self.address or self.registry

    @property
    def alias(self) -> str:
        """The host name tool containers bind the service under (``registry-5000``)."""
        return Registry(self.host).hostname

    @property
    def http_host(self) -> str:
        """The host under a second alias ending in ``.localhost``, which go-containerregistry
        reaches over plain HTTP by itself: cosign's bundle writer (``--new-bundle-format``)
        ignores ``--allow-http-registry``. The registry itself when it is not bound."""
        if self.service is None or not self.insecure:
            return self.host
        return f"{self.alias}.localhost:{Registry(self.host).port}"


def loopback_alias(registry: str) -> str:
    return f"registry-{Registry(registry).port or 80}"


def host_endpoint(registry: str) -> RegistryEndpoint:
    """The endpoint for a registry as the client's host sees it (client mode only: ``dag.host()``)."""
    if not Registry(registry).loopback:
        return RegistryEndpoint(registry=registry, host=registry)
    port = Registry(registry).port or 80
    service = dag.host().service([dagger.PortForward(backend=port, frontend=port)])
    return RegistryEndpoint(registry=registry, host=f"{loopback_alias(registry)}:{port}", service=service, insecure=True)


async def keep_running(endpoints: Iterable[RegistryEndpoint]) -> None:
    """Start each bound loopback service once, for the whole session.

    Dagger v0.19.10's engine crashes (a nil ``Wait`` of a tunnel, ``core/services.go:175``) when
    a container binds a host service at the moment its previous binder detached and the service
    is stopping; seen in our suite as "panic: runtime error: invalid memory address" in
    ``Services.StartWithIO``. A service started explicitly keeps a binder until the session
    ends, so its binders never drop to zero between tool containers.
    """
    services = {e.host: e.service for e in endpoints if e.service is not None}
    async with anyio.create_task_group() as group:  # at once: each start waits for its service's ports
        for service in services.values():
            group.start_soon(service.start)


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

    def inside(self, reference: str, *, http_name: bool = False) -> str:
        """``127.0.0.1:5000/acme/app@sha256:…`` as a tool container must write it
        (``http_name``: under the ``.localhost`` alias, see ``RegistryEndpoint.http_host``)."""
        ref = parse_reference(reference)
        endpoint = self.endpoint(ref.registry)
        host = endpoint.http_host if http_name else endpoint.host
        if host == ref.registry:
            return str(ref)
        return f"{host}/{ref.repository}" + (f":{ref.tag}" if ref.tag else "") + (f"@{ref.digest}" if ref.digest else "")

    def insecure(self, references: Iterable[str | ImageRef]) -> bool:
        """Does any of these references' registries speak plain HTTP (a tool's ``--insecure``)? As
        the registry value decides (:attr:`RegistryEndpoint.target`), for tools as for Shipyard's client."""
        return any(self.endpoint(_ref(r).registry).target.plain_http for r in references)

    def inside_name(self, repository: str | ImageRef) -> str:
        """``registry/repository`` as a tool container writes it (no tag, no digest)."""
        ref = _ref(repository)
        host = self.endpoint(ref.registry).host
        return ref.name if host == ref.registry else f"{host}/{ref.repository}"

    def auth_secret(self) -> dagger.Secret | None:
        """One Docker config naming every registry with credentials, as a Secret (built once)."""
        if self._auth is None and self.credentials:
            auths = {}
            for registry, cred in sorted(self.credentials.items()):
                token = base64.b64encode(f"{cred.username}:{cred.password.reveal()}".encode()).decode()
                endpoint = self.endpoint(registry)
                auths[endpoint.host] = {"auth": token}
                auths[endpoint.http_host] = {"auth": token}
                if registry == DOCKER_HUB:  # the key Docker's tools look Docker Hub up under
                    auths[DOCKER_HUB_CONFIG_KEY] = {"auth": token}
            self._auth = dag.set_secret(f"shipyard-registry-auth-{uuid.uuid4().hex}", json.dumps({"auths": auths}))
        return self._auth

    async def authenticate_engine(self) -> None:
        """Give the engine the credentials for its own pulls (a Dockerfile's ``FROM`` an image
        in a registry that needs them): ``with_registry_auth`` holds for the whole session."""
        for registry, cred in sorted(self.credentials.items()):
            secret = dag.set_secret(f"shipyard-engine-auth-{uuid.uuid4().hex}", cred.password.reveal())
            await dag.container().with_registry_auth(registry, cred.username, secret).sync()

    def attach(self, container: dagger.Container) -> dagger.Container:
        """Bind the loopback registries and mount the credentials into a tool container."""
        for endpoint in sorted(self.endpoints.values(), key=lambda e: e.registry):
            if endpoint.service is not None:
                container = container.with_service_binding(endpoint.alias, endpoint.service)
                if endpoint.http_host != endpoint.host:
                    container = container.with_service_binding(Registry(endpoint.http_host).hostname, endpoint.service)
        secret = self.auth_secret()
        container = container.with_env_variable("DOCKER_CONFIG", DOCKER_CONFIG)
        if secret is not None:
            container = container.with_mounted_secret(f"{DOCKER_CONFIG}/config.json", secret)
        return container


async def ephemeral_registry_service(image: str, name: str) -> dagger.Service:
    """A registry run as a service in the engine for the zero-config release; started now so it
    keeps its content until the session ends (a bound-only service restarts empty)."""
    port = Registry(name).port or 80
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


def _ref(reference: str | ImageRef) -> ImageRef:
    return reference if isinstance(reference, ImageRef) else parse_reference(reference)


def fresh_container(image: str) -> dagger.Container:
    """A container of a pinned tool image with a fresh cache key: a tool's run is part of this
    release (its SBOM's creation time, its scan), never an earlier release's cached result."""
    return dag.container().from_(image).with_env_variable("SHIPYARD_RUN", uuid.uuid4().hex)


def tool_container(image: str, access: RegistryAccess) -> dagger.Container:
    """A container of a pinned tool image with the registries attached (a fresh cache key too:
    a tool talks to registries, whose state the engine's cache cannot see)."""
    return access.attach(fresh_container(image))


def go_helper(golang_image: str, name: str, platform: Platform | None = None) -> dagger.File:
    """One of Shipyard's own Go helpers (``steps/<name>/``: toolrun, the smoke test's supervisor),
    built static from this package's files (both doors ship them) for ``platform`` (cross-compiled
    on the engine's platform; default: the engine's own). The engine caches it by its source."""
    folder = resources.files("shipyard.steps") / name
    source = dag.directory()
    for file in ("go.mod", "main.go"):
        source = source.with_new_file(file, (folder / file).read_text())
    build = (
        dag.container()
        .from_(golang_image)
        .with_directory("/src", source)
        .with_workdir("/src")
        .with_env_variable("CGO_ENABLED", "0")
        .with_env_variable("GOTOOLCHAIN", "local")
        .with_env_variable("GOFLAGS", "-mod=mod")
        .with_env_variable("GOCACHE", "/tmp/gocache")
        .with_env_variable("HOME", "/tmp")
    )
    if platform is not None:
        goarm = platform.variant.lstrip("v") if platform.architecture == "arm" and platform.variant else ""
        build = build.with_env_variable("GOOS", platform.os).with_env_variable("GOARCH", platform.architecture)
        build = build.with_env_variable("GOARM", goarm)
    build = build.with_exec(["/usr/local/go/bin/go", "build", "-trimpath", "-ldflags", "-s -w -buildid=", "-o", f"/out/{name}", "."])
    return build.file(f"/out/{name}")


def toolrun_binary(golang_image: str) -> dagger.File:
    """toolrun for the engine's own platform (where tool containers run)."""
    return go_helper(golang_image, "toolrun")


async def run_tool_plan(
    container: dagger.Container,
    tool: str,
    chains: Sequence[Sequence[ToolCommand]],
    golang_image: str,
    *,
    image: str = "",
    parallel: int = PARALLEL,
) -> tuple[dagger.Container, dict[str, ToolResult]]:
    """Run a tool's commands (``supply_chain/toolrun.py``) in one exec of ``container``, at
    most ``parallel`` chains at a time: the container after it (files its commands wrote are
    under OUT_DIR) and each command's result by name. A tool image the engine cannot pull is
    :class:`ToolUnavailable`."""
    plan = f"{PLAN_DIR}/{tool}.json"
    ran = (
        container.with_mounted_file(TOOLRUN, toolrun_binary(golang_image))
        .with_new_file(plan, toolrun_plan(chains, parallel))
        .with_directory(OUT_DIR, dag.directory())
        .with_exec([TOOLRUN, plan], use_entrypoint=False)
    )
    with tool_errors(tool, image or tool, pulled=f"{image or tool} (or the golang image {golang_image}, which builds toolrun)"):
        stdout = await ran.stdout()
    try:
        return ran, parse_results(stdout, chains)
    except ToolrunOutputError as exc:
        raise GateFailed(f"{tool}: {exc}") from None


async def pull_ahead(images: Iterable[str], golang_image: str) -> None:
    """Pull the tool images (every layer) and build toolrun now, while the release builds, so
    the supply-chain steps start at once; a failure here is left to the step that needs it."""

    async def one(pull: Callable[[], Any]) -> None:
        with contextlib.suppress(dagger.QueryError, dagger.ExecError):
            await pull()

    async with anyio.create_task_group() as group:
        for image in dict.fromkeys(i for i in images if i):
            group.start_soon(one, dag.container().from_(image).rootfs().entries)
        group.start_soon(one, toolrun_binary(golang_image).size)


@dataclass(frozen=True)
class Sigstore:
    """A private Sigstore as cosign containers reach it: its loopback services bound under
    aliases (like loopback registries), its trusted root mounted. Empty: the public instance."""

    services: tuple[RegistryEndpoint, ...] = ()
    trusted_root: str | None = None  # trusted_root.json (public material)

    def attach(self, container: dagger.Container) -> dagger.Container:
        for endpoint in self.services:
            assert endpoint.service is not None
            container = container.with_service_binding(endpoint.alias, endpoint.service)
        if self.trusted_root is not None:
            container = container.with_new_file(TRUSTED_ROOT_PATH, self.trusted_root)
            for variable, pem in trust_files(self.trusted_root).items():
                container = container.with_new_file(TRUST_FILES[variable], pem).with_env_variable(variable, TRUST_FILES[variable])
        return container


def sigstore_hosts(
    urls: Mapping[str, str], endpoint: Callable[[str], RegistryEndpoint]
) -> tuple[dict[str, str], tuple[RegistryEndpoint, ...]]:
    """For Sigstore URLs on this machine's loopback (option -> URL): ``127.0.0.1:P`` -> the host
    tool containers reach it at, and the services to bind. A loopback URL with no service (a
    module given no ``--registry tcp://localhost:P``) is bad input."""
    hosts: dict[str, str] = {}
    services: dict[str, RegistryEndpoint] = {}
    for option, url in urls.items():
        address = loopback_address(url)
        if address is None:
            continue
        found = endpoint(address)
        if found.service is None:
            port = Registry(address).port
            raise InvalidInput(
                f"--{option}",
                url,
                "is on your machine's loopback, which a module cannot reach",
                f"Pass --registry tcp://localhost:{port} too.",
            )
        hosts[address] = found.host
        services[found.host] = found
    return hosts, tuple(services[h] for h in sorted(services))


@dataclass(frozen=True)
class Signer:
    """What cosign signs with: the checked identity (``supply_chain/cosign.py``) and its secrets."""

    identity: SigningIdentity
    key: dagger.Secret | None = None
    password: dagger.Secret | None = None
    token: dagger.Secret | None = None  # keyless: an OIDC identity token
    request_url: dagger.Secret | None = None  # keyless in GitHub Actions: the runner's token request URL
    request_token: dagger.Secret | None = None  # … and its bearer token
    sigstore: Sigstore = Sigstore()
    shown: SigningIdentity | None = None  # the identity as the user wrote it (URLs), for errors
    hosts: tuple[tuple[str, str], ...] = ()  # user host:port -> the host tool containers use

    def explain(self, line: str) -> str:
        """cosign's failure with the Sigstore service at fault named as the user wrote it."""
        return explain_signing_error(line, self.shown or self.identity, dict(self.hosts))


def cosign_container(image: str, access: RegistryAccess, signer: Signer) -> dagger.Container:
    """A cosign container holding the signer's secrets as files and secret variables only."""
    container = signer.sigstore.attach(tool_container(image, access))
    if signer.key is not None:
        container = container.with_mounted_secret(KEY_PATH, signer.key)
    if signer.password is not None:
        container = container.with_secret_variable("COSIGN_PASSWORD", signer.password)
    else:
        container = container.with_env_variable("COSIGN_PASSWORD", "")
    if signer.token is not None:
        container = container.with_mounted_secret(TOKEN_PATH, signer.token)
    if signer.request_url is not None and signer.request_token is not None:
        container = container.with_secret_variable("ACTIONS_ID_TOKEN_REQUEST_URL", signer.request_url)
        container = container.with_secret_variable("ACTIONS_ID_TOKEN_REQUEST_TOKEN", signer.request_token)
    return container


class ToolFailed(GateFailed):
    """A tool's container ran and exited non-zero; ``reason`` is the line of its output that says why."""

    def __init__(self, tool: str, image: str, platform: Platform | None, reason: str) -> None:
        self.tool, self.image, self.platform, self.reason = tool, image, platform, reason
        on = f" on {platform}" if platform is not None else ""
        super().__init__(f"{tool} ({image}{on}) failed: {reason}")


@contextlib.contextmanager
def tool_errors(tool: str, image: str, platform: Platform | None = None, *, pulled: str = "") -> Iterator[None]:
    """The engine's errors of a tool container as one clear error naming the tool, its image and
    the platform: it ran and failed (``ExecError``) -> :class:`ToolFailed`; it could not start
    (``QueryError``: its image, or ``pulled``, cannot be pulled) -> :class:`ToolUnavailable`."""
    try:
        yield
    except dagger.ExecError as exc:
        raise ToolFailed(tool, image, platform, last_line(exc, tool)) from None
    except dagger.QueryError as exc:
        raise tool_unavailable(pulled or image, exc, platform) from None


def engine_reason(exc: dagger.QueryError) -> str:
    """What the engine says went wrong, without its trace id."""
    return str(exc).split(" [traceparent", 1)[0].strip()


def last_line(exc: dagger.ExecError, tool: str) -> str:
    """The line of a failed tool's output that says why (its last), for error messages."""
    lines = (exc.stderr or exc.stdout).strip().splitlines()
    return lines[-1] if lines else f"{tool} exited with {exc.exit_code}"


class ToolUnavailable(GateFailed):
    """A tool's container could not be started (its image cannot be pulled)."""


def tool_unavailable(image: str, exc: dagger.QueryError, platform: Platform | None = None) -> ToolUnavailable:
    """The error for a tool image the engine cannot pull, naming the image (and platform) and the fix."""
    on = f" for {platform}" if platform is not None else ""
    return ToolUnavailable(
        f"cannot run the tool image {image}{on}: {engine_reason(exc)}. Point Shipyard at a reachable copy: "
        "$SHIPYARD_TOOL_IMAGES (a JSON file) in the CLI, --tool-images in Dagger"
    )
