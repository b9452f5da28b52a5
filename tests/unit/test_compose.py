"""Reading the user's compose file (pure): the service under test, its dependencies, and every
problem reported naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.errors import InvalidInput
from shipyard.gates.compose import compose_runs, find_service, load_compose
from shipyard.gates.smoke import CheckKind, Healthcheck, ServiceRun

FIXTURE = Path(__file__).parent.parent / "fixtures" / "compose-app" / "compose.yaml"

GOOD = """
services:
  web:
    build: .
    command: serve --port 8080
    entrypoint: ["/usr/local/bin/app"]
    user: "1000:1000"
    working_dir: /srv
    environment:
      - MODE=ready
      - EMPTY=
      - PRICE=$$5
      - LEVEL=${LEVEL:-info}
    env_file: [app.env, {path: extra.env, required: false}]
    ports: ["127.0.0.1:8080:8080/tcp", 9000, {target: 9100, published: 9100}]
    volumes: ["data:/var/lib/app", "/scratch", {type: tmpfs, target: /tmp/x}]
    restart: unless-stopped
    container_name: web
    x-note: ignored
    healthcheck:
      test: curl -f http://localhost:8080/health
      interval: 5s
      timeout: 2s
      retries: 0
      start_period: 1m
      start_interval: 500ms
    depends_on:
      db: {condition: service_healthy}
      cache: {condition: service_started}
  db:
    image: postgres:16
    environment: {POSTGRES_PASSWORD: example, DEBUG: true}
    healthcheck: {test: ["CMD", "pg_isready"], interval: 1s}
  cache:
    image: redis:7
    depends_on: [db]
volumes:
  data: {}
"""


def test_the_service_under_test_with_every_setting_applied() -> None:
    compose = load_compose(GOOD, "deploy/compose.yaml")
    app, dependencies = compose_runs(compose, "web")
    assert app == ServiceRun(
        name="web",
        entrypoint=("/usr/local/bin/app",),
        command=("serve", "--port", "8080"),
        environment=(("MODE", "ready"), ("EMPTY", ""), ("PRICE", "$5"), ("LEVEL", "info")),
        env_files=(("deploy/app.env", True), ("deploy/extra.env", False)),
        user="1000:1000",
        working_dir="/srv",
        ports=(8080, 9000, 9100),
        volumes=("/var/lib/app", "/scratch", "/tmp/x"),
        healthcheck=Healthcheck(
            CheckKind.CMD_SHELL,
            ("curl -f http://localhost:8080/health",),
            interval=5,
            timeout=2,
            retries=3,
            start_period=60,
            start_interval=0.5,
        ),
        depends_on=(("db", True), ("cache", False)),
    )
    assert [d.name for d in dependencies] == ["db", "cache"]  # db first: cache depends on it too
    db = dependencies[0]
    assert db.image == "postgres:16" and dict(db.environment) == {"POSTGRES_PASSWORD": "example", "DEBUG": "true"}
    assert db.healthcheck == Healthcheck(CheckKind.CMD, ("pg_isready",), interval=1)


def test_the_fixtures_compose_file_is_found_by_its_build() -> None:
    compose = load_compose(FIXTURE.read_text(), "compose.yaml")
    assert find_service(compose, service="", dockerfile="Dockerfile", explicit=False) == "app"
    app, (deps,) = compose_runs(compose, "app")
    assert app.healthcheck is not None and app.healthcheck.kind is CheckKind.CMD_SHELL and deps.name == "deps"


@pytest.mark.parametrize(
    ("text", "dockerfile", "expected"),
    [
        ("services: {a: {build: .}, b: {image: x}}", "Dockerfile", "a"),
        ("services: {a: {build: {context: ., dockerfile: Containerfile}}}", "Containerfile", "a"),
        ("services: {a: {build: ./other}}", "Dockerfile", None),
        ("services: {a: {build: {context: ., dockerfile: Containerfile}}}", "Dockerfile", None),
        ("services: {a: {image: x}}", "Dockerfile", None),
    ],
)
def test_by_default_the_service_that_builds_this_image(text: str, dockerfile: str, expected: str | None) -> None:
    assert find_service(load_compose(text, "compose.yaml"), service="", dockerfile=dockerfile, explicit=False) == expected


def test_a_compose_file_in_a_subdirectory_builds_from_its_parent() -> None:
    compose = load_compose("services: {a: {build: ..}}", "deploy/compose.yaml")
    assert find_service(compose, service="", dockerfile="Dockerfile", explicit=False) == "a"


@pytest.mark.parametrize(
    ("text", "service", "key"),
    [
        ("services: {a: {build: .}, b: {build: .}}", "", "services"),  # two candidates
        ("services: {a: {image: x}}", "", "services"),  # given explicitly, none builds this image
        ("services: {a: {build: .}}", "nosuch", "services.nosuch"),
    ],
)
def test_choosing_the_service_fails_naming_the_key(text: str, service: str, key: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        find_service(load_compose(text, "compose.yaml"), service=service, dockerfile="Dockerfile", explicit=True)
    assert caught.value.name == "--smoke-compose" and caught.value.value == "compose.yaml"
    assert caught.value.problem.startswith(f"{key}:")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("services:\n  a:\n    build: .\n   image: x\n", "line 4"),  # bad indentation
        ("services: {a: {build: .}\n", "line 2"),  # unclosed flow mapping
        ("services: []\n", "services"),
        ("name: x\n", "services"),
        ("services: {a: {build: .}}\nservice: {}\n", "service"),
        ("services: {a: nope}\n", "services.a"),
        ("services: {a: {build: ., healthcheck: {tests: [CMD, x]}}}\n", "services.a.healthcheck.tests"),
        ("services: {a: {build: ., environment: 5}}\n", "services.a.environment"),
        ("services: {a: {build: ., depends_on: {b: {condition: sometimes}}}, b: {image: x}}\n", "services.a.depends_on.b.condition"),
        ("services: {a: {build: ., ports: [{published: 80}]}}\n", "services.a.ports.0"),
        ("services: {a: {build: ., healthcheck: {test: 'true', interval: 10}}}\n", "services.a.healthcheck.interval"),
    ],
)
def test_syntax_and_schema_errors_name_the_file_and_the_key(text: str, key: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_compose(text, "compose.yaml")
    assert caught.value.name == "--smoke-compose" and caught.value.value == "compose.yaml"
    assert caught.value.problem.startswith(f"{key}"), caught.value.problem


@pytest.mark.parametrize(
    ("service", "key"),
    [
        ("{build: ., privileged: true}", "services.a.privileged"),
        ("{build: ., network_mode: host}", "services.a.network_mode"),
        ("{build: ., cap_add: [NET_ADMIN]}", "services.a.cap_add"),
        ("{build: ., read_only: true}", "services.a.read_only"),
        ("{build: ., volumes: ['./conf:/etc/app']}", "services.a.volumes"),
        ("{build: ., volumes: [{type: bind, source: ., target: /src}]}", "services.a.volumes"),
        ("{build: ., volumes: ['relative/path']}", "services.a.volumes"),
        ("{build: ., environment: [TOKEN]}", "services.a.environment.TOKEN"),
        ("{build: ., environment: {URL: '${HOST}/x'}}", "services.a.environment.URL"),
        ("{build: ., command: 'serve $PORT'}", "services.a.command"),
        ("{build: ., healthcheck: {test: [CMD]}}", "services.a.healthcheck.test"),
        ("{build: ., healthcheck: {test: [HTTP, x]}}", "services.a.healthcheck.test"),
        ("{build: ., healthcheck: {test: 'true', interval: soon}}", "services.a.healthcheck.interval"),
        ("{build: ., env_file: ../secrets.env}", "services.a.env_file"),
        ("{build: ., depends_on: [nosuch]}", "services.a.depends_on.nosuch"),
        ("{build: ., depends_on: {b: {condition: service_completed_successfully}}}", "services.a.depends_on.b.condition"),
    ],
)
def test_what_the_smoke_test_cannot_apply_is_reported_not_ignored(service: str, key: str) -> None:
    compose = load_compose(f"services: {{a: {service}, b: {{image: x}}}}", "compose.yaml")
    with pytest.raises(InvalidInput) as caught:
        compose_runs(compose, "a")
    assert caught.value.problem.startswith(f"{key}:"), caught.value.problem
    assert str(caught.value).startswith("--smoke-compose 'compose.yaml': ")


def test_unsupported_keys_of_services_that_do_not_run_are_left_alone() -> None:
    compose = load_compose("services: {a: {build: .}, admin: {image: x, privileged: true}}", "compose.yaml")
    app, dependencies = compose_runs(compose, "a")
    assert app.name == "a" and dependencies == ()


@pytest.mark.parametrize(
    ("services", "key"),
    [
        ("{a: {build: ., depends_on: [b]}, b: {build: ./b}}", "services.b.image"),  # dependencies run from images
        ("{a: {build: ., depends_on: [b]}, b: {image: x, depends_on: [a]}}", "services.a.depends_on"),  # a cycle
        ("{a: {build: ., depends_on: {b: {condition: service_healthy}}}, b: {image: x}}", "services.a.depends_on.b"),  # no healthcheck
        ("{a: {build: ., depends_on: [b]}, b: {image: x, privileged: true}}", "services.b.privileged"),
    ],
)
def test_dependencies_are_checked_too(services: str, key: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        compose_runs(load_compose(f"services: {services}", "compose.yaml"), "a")
    assert caught.value.problem.startswith(f"{key}:"), caught.value.problem


@pytest.mark.parametrize(
    ("healthcheck", "expected"),
    [
        ("{disable: true}", None),
        ("{test: [NONE]}", None),
        ("{test: [CMD-SHELL, 'curl -f localhost || exit 1']}", Healthcheck(CheckKind.CMD_SHELL, ("curl -f localhost || exit 1",))),
        ("{test: [CMD, wget, -q, 'http://localhost/']}", Healthcheck(CheckKind.CMD, ("wget", "-q", "http://localhost/"))),
        ("{test: 'true', retries: 5, timeout: 1m}", Healthcheck(CheckKind.CMD_SHELL, ("true",), retries=5, timeout=60)),
    ],
)
def test_healthcheck_forms_and_dockers_defaults(healthcheck: str, expected: Healthcheck | None) -> None:
    app, _ = compose_runs(load_compose(f"services: {{a: {{build: ., healthcheck: {healthcheck}}}}}", "compose.yaml"), "a")
    assert app.healthcheck == expected
