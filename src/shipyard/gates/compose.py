"""The smoke test's Compose service (pure): a Compose file read with PyYAML, each service checked
against typed models of the Compose Specification's keys, and the service under test (and those
it depends on) turned into :class:`ServiceRun` values.

Keys the smoke test applies: ``image``, ``build`` (which service builds this image),
``environment``, ``env_file``, ``command``, ``entrypoint``, ``user``, ``working_dir``, ``ports``,
``volumes`` (as fresh empty volumes), ``healthcheck``, ``depends_on``. Keys that do not change
whether a container is healthy are accepted and left out (:data:`IGNORED_KEYS`). Every other key
of a service that runs changes how it would run (``privileged``, ``network_mode``, ``cap_add``…),
so it is reported, naming the file and the key, never silently dropped.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from shipyard.errors import InvalidInput
from shipyard.gates.smoke import CheckKind, Healthcheck, ServiceRun, parse_duration

COMPOSE_FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
FLAG = "--smoke-compose"

# Accepted and left out: they name, label, restart, log or place a container, or publish it
# on a host network the smoke test does not use; none decides whether it is healthy.
IGNORED_KEYS = frozenset(
    {
        "container_name", "hostname", "domainname", "labels", "annotations", "logging", "restart", "networks",
        "expose", "stop_signal", "stop_grace_period", "profiles", "pull_policy", "platform", "tty", "stdin_open",
        "scale", "develop", "attach",
    }
)  # fmt: skip
TOP_LEVEL_KEYS = frozenset({"version", "name", "services", "volumes", "networks", "secrets", "configs", "include"})

_STRICT = ConfigDict(extra="forbid", frozen=True)


class _Healthcheck(BaseModel):
    model_config = _STRICT
    test: str | list[str] | None = None
    interval: str | None = None
    timeout: str | None = None
    retries: int | None = None
    start_period: str | None = None
    start_interval: str | None = None
    disable: bool = False


class _Dependency(BaseModel):
    model_config = _STRICT
    condition: Literal["service_started", "service_healthy", "service_completed_successfully"] = "service_started"
    restart: bool = False
    required: bool = True


class _Build(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)  # args, target, cache_from…: Shipyard's own build decides those
    context: str = "."
    dockerfile: str = "Dockerfile"


class _EnvFile(BaseModel):
    model_config = _STRICT
    path: str
    required: bool = True
    format: str | None = None


class _Port(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    target: int


class _Volume(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    type: Literal["volume", "bind", "tmpfs", "npipe", "cluster", "image"]
    target: str
    source: str | None = None


class _Service(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)  # the rest is sorted by _check_keys
    image: str | None = None
    build: str | _Build | None = None
    environment: dict[str, str | int | float | bool | None] | list[str] | None = None
    env_file: str | list[str | _EnvFile] | None = None
    command: str | list[str] | None = None
    entrypoint: str | list[str] | None = None
    user: str | int | None = None
    working_dir: str | None = None
    ports: list[str | int | _Port] = []
    volumes: list[str | _Volume] = []
    healthcheck: _Healthcheck | None = None
    depends_on: list[str] | dict[str, _Dependency] | None = None


@dataclass(frozen=True)
class ComposeFile:
    """A parsed Compose file: its path in the source and its services, checked."""

    path: str
    services: dict[str, _Service]
    raw: dict[str, dict[str, Any]]

    @property
    def directory(self) -> str:
        return posixpath.dirname(self.path)


def _error(file: str, key: str, problem: str, fix: str) -> InvalidInput:
    return InvalidInput(FLAG, file, f"{key}: {problem}", fix)


def load_compose(text: str, path: str) -> ComposeFile:
    """Parse and check a Compose file; syntax and type errors name the file, the line or the key."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "YAML"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise _error(path, where, f"is not valid YAML ({problem})", "Fix the file so `docker compose config` reads it.") from None
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict) or not data["services"]:
        raise _error(path, "services", "is missing or empty", "A Compose file lists its containers under services:.")
    for key in data:
        if key not in TOP_LEVEL_KEYS and not str(key).startswith("x-"):
            raise _error(path, str(key), "is not a top-level key of the Compose Specification", "Remove it or prefix it with x-.")
    if "include" in data:
        raise _error(path, "include", "is not supported by the smoke test", "Write the services into one file for --smoke-compose.")
    services: dict[str, _Service] = {}
    raw: dict[str, dict[str, Any]] = {}
    for name, body in data["services"].items():
        key = f"services.{name}"
        if not isinstance(body, dict):
            raise _error(path, key, "is not a mapping", "Each service is a mapping of its keys.")
        try:
            services[str(name)] = _Service.model_validate(body)
        except ValidationError as exc:
            # a union (``depends_on``: a list or a mapping) fails once per form: the deepest error is the one meant
            errors = [(".".join(str(p) for p in e["loc"] if not _is_type_tag(p)), e) for e in exc.errors()]
            loc, error = max(errors, key=lambda item: item[0].count("."))
            raise _error(path, f"{key}.{loc}", _problem(error), "See the Compose Specification for this key.") from None
        raw[str(name)] = body
    return ComposeFile(path, services, raw)


def _is_type_tag(part: object) -> bool:
    """Pydantic names union members in error locations (``str``, ``list[str]``, ``_Build``); users don't."""
    return isinstance(part, str) and (part in {"str", "int", "float", "bool", "none"} or part.startswith(("list[", "dict[", "_")))


def _problem(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "is not a key of the Compose Specification here"
    return f"has the wrong value ({error['msg']})"


def find_service(compose: ComposeFile, *, service: str, dockerfile: str, explicit: bool) -> str | None:
    """The service under test: ``--smoke-service``, else the one whose ``build`` is this image
    (context the source's root, the same Dockerfile). None when the file was found by default and
    no service builds this image (no compose smoke test)."""
    if service:
        if service not in compose.services:
            known = ", ".join(compose.services)
            raise _error(compose.path, f"services.{service}", f"no such service (the file has {known})", "Name one with --smoke-service.")
        return service
    builders = [name for name, body in compose.services.items() if _builds(compose, body, dockerfile)]
    if len(builders) == 1:
        return builders[0]
    if len(builders) > 1:
        raise _error(compose.path, "services", f"{', '.join(builders)} all build this image", "Name one with --smoke-service.")
    if explicit:
        raise _error(compose.path, "services", f"no service builds {dockerfile} from the source's root", "Name one with --smoke-service.")
    return None


def _builds(compose: ComposeFile, body: _Service, dockerfile: str) -> bool:
    if body.build is None:
        return False
    build = _Build(context=body.build) if isinstance(body.build, str) else body.build
    context = posixpath.normpath(posixpath.join(compose.directory, build.context))
    return context == "." and posixpath.normpath(build.dockerfile) == posixpath.normpath(dockerfile)


def compose_runs(compose: ComposeFile, name: str) -> tuple[ServiceRun, tuple[ServiceRun, ...]]:
    """The service under test and the services it depends on (dependencies first), each checked:
    dependencies need an ``image``; keys the smoke test cannot apply are reported."""
    order: list[str] = []

    def visit(current: str, chain: tuple[str, ...]) -> None:
        if current in chain:
            raise _error(compose.path, f"services.{current}.depends_on", f"is a cycle ({' -> '.join((*chain, current))})", "Break it.")
        if current in order:
            return
        for dependency, _ in _depends_on(compose, current):
            if dependency not in compose.services:
                raise _error(compose.path, f"services.{current}.depends_on.{dependency}", "no such service", "Name a service of the file.")
            visit(dependency, (*chain, current))
        order.append(current)

    visit(name, ())
    runs = {service: _service_run(compose, service) for service in order}
    for service in order:
        for dependency, healthy in runs[service].depends_on:
            if healthy and runs[dependency].healthcheck is None:
                key = f"services.{service}.depends_on.{dependency}"
                raise _error(compose.path, key, f"waits for service_healthy, and {dependency} has no healthcheck", "Give it one.")
    for service in order[:-1]:
        if not runs[service].image:
            raise _error(compose.path, f"services.{service}.image", "is missing", "The smoke test starts dependencies from their images.")
    return runs[name], tuple(runs[s] for s in order[:-1])


def _depends_on(compose: ComposeFile, name: str) -> list[tuple[str, bool]]:
    value = compose.services[name].depends_on
    if value is None:
        return []
    if isinstance(value, list):
        return [(dependency, False) for dependency in value]
    out: list[tuple[str, bool]] = []
    for dependency, spec in value.items():
        if spec.condition == "service_completed_successfully":
            key = f"services.{name}.depends_on.{dependency}.condition"
            raise _error(compose.path, key, "service_completed_successfully is not supported by the smoke test", "Use service_healthy.")
        out.append((dependency, spec.condition == "service_healthy"))
    return out


def _service_run(compose: ComposeFile, name: str) -> ServiceRun:
    body = compose.services[name]
    key = f"services.{name}"
    for extra in sorted(body.model_extra or {}):
        if extra in IGNORED_KEYS or extra.startswith("x-"):
            continue
        raise _error(
            compose.path,
            f"{key}.{extra}",
            "is not supported by the smoke test (it changes how the container runs)",
            "Remove it, or name a service without it with --smoke-service.",
        )
    return ServiceRun(
        name=name,
        image=_text(compose, f"{key}.image", body.image or ""),
        entrypoint=_argv(compose, f"{key}.entrypoint", body.entrypoint),
        command=_argv(compose, f"{key}.command", body.command),
        environment=_environment(compose, key, body),
        env_files=_env_files(compose, key, body),
        user=str(body.user) if body.user is not None else "",
        working_dir=_text(compose, f"{key}.working_dir", body.working_dir or ""),
        ports=tuple(_port(compose, f"{key}.ports", port) for port in body.ports),
        volumes=tuple(_volume(compose, f"{key}.volumes", volume) for volume in body.volumes),
        healthcheck=_healthcheck(compose, f"{key}.healthcheck", body.healthcheck),
        depends_on=tuple(_depends_on(compose, name)),
    )


_VARIABLE = re.compile(r"\$(?:(\$)|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_DEFAULTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(:?-)(.*)", re.DOTALL)


def _text(compose: ComposeFile, key: str, value: str) -> str:
    """Compose interpolation without an environment: ``$$`` is ``$``, ``${NAME:-default}`` and
    ``${NAME-default}`` give the default; any other variable is reported (a release must not
    depend on the shell it runs in)."""

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return "$"
        inner = match.group(2) if match.group(2) is not None else match.group(3)
        defaulted = _DEFAULTED.fullmatch(inner) if match.group(2) is not None else None
        if defaulted is None:
            raise _error(
                compose.path, key, f"uses ${{{inner}}}, and the smoke test reads no environment", "Give a default: ${NAME:-value}."
            )
        return defaulted.group(2)

    return _VARIABLE.sub(replace, value)


def _argv(compose: ComposeFile, key: str, value: str | list[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return tuple(shlex.split(_text(compose, key, value)))
        except ValueError as exc:
            raise _error(compose.path, key, f"cannot be split into words ({exc})", "Write it as a list.") from None
    return tuple(_text(compose, key, part) for part in value)


def _environment(compose: ComposeFile, key: str, body: _Service) -> tuple[tuple[str, str], ...]:
    value = body.environment
    pairs: list[tuple[str, str | None]] = []
    if isinstance(value, dict):
        pairs = [(k, None if v is None else str(v).lower() if isinstance(v, bool) else str(v)) for k, v in value.items()]
    elif isinstance(value, list):
        for item in value:
            name, sep, rest = item.partition("=")
            pairs.append((name, rest if sep else None))
    out: list[tuple[str, str]] = []
    for name, text in pairs:
        if text is None:
            raise _error(compose.path, f"{key}.environment.{name}", "has no value, and the smoke test reads no environment",
                         "Give the value in the file (NAME=value) or in an env_file.")  # fmt: skip
        out.append((name, _text(compose, f"{key}.environment.{name}", text)))
    return tuple(out)


def _env_files(compose: ComposeFile, key: str, body: _Service) -> tuple[tuple[str, bool], ...]:
    value = body.env_file
    entries: list[str | _EnvFile] = [value] if isinstance(value, str) else list(value or [])
    out: list[tuple[str, bool]] = []
    for entry in entries:
        path, required = (entry, True) if isinstance(entry, str) else (entry.path, entry.required)
        resolved = posixpath.normpath(posixpath.join(compose.directory, _text(compose, f"{key}.env_file", path)))
        if resolved.startswith(("../", "/")) or resolved == "..":
            raise _error(compose.path, f"{key}.env_file", f"{path} is outside the source", "Keep env files inside the source.")
        out.append((resolved, required))
    return tuple(out)


def _port(compose: ComposeFile, key: str, value: str | int | _Port) -> int:
    if isinstance(value, _Port):
        return value.target
    text = str(value).rsplit("/", 1)[0]
    container = text.rsplit(":", 1)[-1]
    first = container.split("-", 1)[0]
    if not first.isdigit() or not 0 < int(first) <= 65535:
        raise _error(compose.path, key, f"{value!r} names no container port", "Write e.g. 8080 or 127.0.0.1:8080:8080.")
    return int(first)


def _volume(compose: ComposeFile, key: str, value: str | _Volume) -> str:
    if isinstance(value, _Volume):
        kind, target, source = value.type, value.target, value.source or ""
    else:
        parts = value.split(":")
        if len(parts) == 1:
            kind, target, source = "volume", parts[0], ""
        else:
            source, target = parts[0], parts[1]
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
    if kind not in ("volume", "tmpfs"):
        raise _error(compose.path, key, f"{kind} mount {source or target} is not supported by the smoke test",
                     "Use a named volume (it starts empty), or copy the files into the image.")  # fmt: skip
    if not target.startswith("/"):
        raise _error(compose.path, key, f"{target!r} is not an absolute path in the container", "Write e.g. data:/var/lib/app.")
    return target


def _healthcheck(compose: ComposeFile, key: str, value: _Healthcheck | None) -> Healthcheck | None:
    if value is None or value.disable:
        return None
    test = value.test
    if test is None:
        raise _error(compose.path, f"{key}.test", "is missing", "Write e.g. test: ['CMD', 'curl', '-f', 'http://localhost:8080/health'].")
    if isinstance(test, str):
        args: tuple[str, ...] = (_text(compose, f"{key}.test", test),)
        kind = CheckKind.CMD_SHELL
    elif not test:
        raise _error(compose.path, f"{key}.test", "is empty", "Start it with CMD, CMD-SHELL or NONE.")
    else:
        head, *rest = test
        try:
            kind = CheckKind(head)
        except ValueError:
            kind = CheckKind.HTTP  # not a Compose kind: refused below
        if kind is CheckKind.HTTP or (kind is not CheckKind.NONE and not rest):
            raise _error(compose.path, f"{key}.test", f"{test!r} is not CMD, CMD-SHELL or NONE with a command",
                         "Write e.g. ['CMD-SHELL', 'curl -f http://localhost:8080/health || exit 1'].")  # fmt: skip
        if kind is CheckKind.NONE:
            return None
        args = tuple(_text(compose, f"{key}.test", part) for part in rest)
        if kind is CheckKind.CMD_SHELL:
            args = (" ".join(args),)

    def seconds(name: str, text: str | None, default: float) -> float:
        try:
            return default if text is None else parse_duration(text, what=name)
        except InvalidInput as exc:
            raise _error(compose.path, f"{key}.{name}", f"{text!r} {exc.problem}", exc.fix) from None

    retries = value.retries if value.retries is not None and value.retries > 0 else 3  # Docker: 0 means the default
    return Healthcheck(
        kind=kind,
        args=args,
        interval=seconds("interval", value.interval, 30.0) or 30.0,
        timeout=seconds("timeout", value.timeout, 30.0) or 30.0,
        retries=retries,
        start_period=seconds("start_period", value.start_period, 0.0),
        start_interval=seconds("start_interval", value.start_interval, 5.0) or 5.0,
    )
