"""``--builder PLATFORM=ENGINE_ADDRESS``: which engine builds which platform, checked before anything runs."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import dagger
import pytest

from shipyard.cli import main
from shipyard.commands.door import Door
from shipyard.commands.publish import _split_build, release_builders
from shipyard.commands.source_build import SourceBuild
from shipyard.errors import InvalidInput
from shipyard.release.builders import Builder, default_platforms, grouped, parse_builders
from shipyard.release.plan import build_release_plan
from shipyard.secrets import Credentials, SecretValue
from shipyard.source import HostSource
from shipyard.supply_chain.provenance import provenance_predicate
from shipyard.values.platforms import parse_platforms
from tests.schemas import validate_slsa_predicate

RELEASE = parse_platforms(["linux/amd64", "linux/arm64", "linux/arm/v7"])
AMD64, ARM64, ARMV7 = RELEASE


def test_each_address_gets_its_platforms_in_the_releases_order() -> None:
    builders = parse_builders(
        ["linux/arm/v7=ssh://ci@pi", "aarch64=tcp://10.0.0.5:1234", "linux/arm64=tcp://10.0.0.5:1234"],
        RELEASE,
    )
    assert builders == (Builder("ssh://ci@pi", (ARMV7,)), Builder("tcp://10.0.0.5:1234", (ARM64,)))
    assert default_platforms(RELEASE, builders) == (AMD64,)


def test_several_platforms_may_share_one_builder_and_every_platform_may_leave_the_default_engine() -> None:
    builders = parse_builders(["linux/amd64=unix:///run/b.sock", "arm64=unix:///run/b.sock", "arm=unix:///run/b.sock"], RELEASE)
    assert builders == (Builder("unix:///run/b.sock", RELEASE),)
    assert default_platforms(RELEASE, builders) == ()


@pytest.mark.parametrize(
    "address",
    [
        "unix:///run/dagger/engine.sock",
        "tcp://arm64-host:1234",
        "ssh://ci@arm64-host",
        "kube-pod://dagger-engine-0?namespace=ci&container=engine",
        "docker-container://dagger-engine",
        "image+podman://registry.example/dagger-engine:v0.19.10",
    ],
)
def test_every_address_the_dagger_cli_takes_is_accepted(address: str) -> None:
    (builder,) = parse_builders([f"linux/arm64={address}"], RELEASE)
    assert builder.address == address


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("linux/arm64", "is not PLATFORM=ENGINE_ADDRESS"),
        ("=tcp://h:1", "is not PLATFORM=ENGINE_ADDRESS"),
        ("linux/arm64=", "is not PLATFORM=ENGINE_ADDRESS"),
        ("linux/s390x=tcp://h:1", "not one of the release's platforms (linux/amd64, linux/arm64, linux/arm/v7)"),
        ("linux/sparc=tcp://h:1", "platform"),
        ("windows/arm64=tcp://h:1", "'windows'"),
        ("linux/arm64=arm64-host:1234", "has no scheme://location"),
        ("linux/arm64=unix://", "has no scheme://location"),
        ("linux/arm64=http://h:1234", "scheme 'http' is not one the Dagger CLI connects to"),
    ],
)
def test_a_bad_builder_is_refused_naming_it(value: str, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_builders([value], RELEASE)
    assert caught.value.name == "--builder" and says in str(caught.value) and value in str(caught.value)


def test_a_platform_with_two_builders_is_refused_and_the_same_one_twice_is_not() -> None:
    with pytest.raises(InvalidInput, match="already has the builder tcp://a:1"):
        parse_builders(["linux/arm64=tcp://a:1", "arm64=tcp://b:1"], RELEASE)
    assert parse_builders(["linux/arm64=tcp://a:1", "arm64=tcp://a:1"], RELEASE) == (Builder("tcp://a:1", (ARM64,)),)


def test_the_plan_says_which_engine_builds_which_platform() -> None:
    plan = build_release_plan(tag="v1.2.3", platforms=["linux/amd64", "linux/arm64"], builders=["linux/arm64=ssh://ci@arm64-host"])
    assert plan.builders == {"linux/arm64": "ssh://ci@arm64-host"}
    assert "builder:   linux/arm64 on ssh://ci@arm64-host" in plan.render_text()
    build = next(s for s in plan.steps if s.name == "build+assemble")
    assert "linux/arm64 on ssh://ci@arm64-host; the rest on the default engine" in build.description
    assert build_release_plan(tag="v1.2.3").builders == {}


def test_the_plans_builders_group_back_into_the_parsed_ones() -> None:
    values = ["linux/arm/v7=ssh://ci@pi", "linux/amd64=tcp://h:1", "arm64=ssh://ci@pi"]
    plan = build_release_plan(tag="v1.2.3", platforms=["linux/amd64", "linux/arm64", "linux/arm/v7"], builders=values)
    assert grouped(plan.builders) == (Builder("tcp://h:1", (AMD64,)), Builder("ssh://ci@pi", (ARM64, ARMV7)))
    assert set(grouped(plan.builders)) == set(parse_builders(values, RELEASE))


def test_shipyard_plan_shows_the_builders(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--tag", "v1.2.3", "--builder", "linux/arm64=ssh://ci@arm64-host"]) == 0
    out = capsys.readouterr().out
    assert "builder:   linux/arm64 on ssh://ci@arm64-host" in out and "the rest on the default engine" in out


def test_provenance_records_the_builders_and_stays_valid() -> None:
    predicate = provenance_predicate(
        version="1.2.3",
        source_url="https://github.com/acme/app",
        sha="860c1904a1ce19322e91ac35af1ab07466440c37",
        dockerfile="Dockerfile",
        target="",
        build_args={},
        secret_ids=[],
        platforms={"linux/amd64": "sha256:" + "a" * 64, "linux/arm64": "sha256:" + "b" * 64},
        index="sha256:" + "c" * 64,
        source_date_epoch=0,
        tool_images={},
        shipyard_version="0.1.0",
        engine_version="v0.19.10",
        started="2026-01-01T00:00:00Z",
        finished="2026-01-01T00:01:00Z",
        builders=[{"address": "ssh://ci@arm64-host", "platforms": ["linux/arm64"], "dagger": "v0.19.10"}],
    )
    assert predicate["buildDefinition"]["internalParameters"]["builders"] == [
        {"address": "ssh://ci@arm64-host", "platforms": ["linux/arm64"], "dagger": "v0.19.10"}
    ]
    validate_slsa_predicate(predicate)


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--builder", "linux/riscv64=tcp://h:1"], "not one of the release's platforms (linux/amd64, linux/arm64)"),
        (["--platform", "linux/amd64", "--builder", "linux/arm64=tcp://h:1"], "not one of the release's platforms (linux/amd64)"),
        (["--builder", "arm64=https://h"], "scheme 'https'"),
    ],
)
def test_a_bad_builder_fails_before_the_engine_starts(
    flags: list[str], says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST", raising=False)  # no engine: any attempt to start one would fail differently
    assert main(["publish", "--tag", "v1.0.0", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("shipyard: error: --builder") and says in err


class RecordingClient:
    """Stands in for a builder engine's ``dagger.Client``: records what the release gives it."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.directories: list[str] = []

    def set_secret(self, name: str, value: str) -> str:
        self.secrets[name] = value
        return f"secret:{name}"

    def host(self) -> RecordingClient:
        return self

    def directory(self, path: str) -> str:
        self.directories.append(path)
        return f"directory:{path}"


def test_a_builder_gets_the_source_and_the_build_secrets_and_nothing_else(tmp_path: Path) -> None:
    """Registry credentials and signing keys stay with the default session (they are not the
    build's); each builder session gets the source directory and the build secrets only."""
    build = SourceBuild(
        source=cast(dagger.Directory, None),
        dockerfile="Dockerfile",
        dockerfile_text="FROM scratch\n",
        target="",
        build_args={"VERSION": "1.2.3"},
        secrets=(("npm_token", SecretValue("s3cret")),),
        sha="",
        source_date_epoch=None,
        commit_epoch=None,
        source_url="",
    )
    door = Door(
        credentials={"ghcr.io": Credentials("bot", SecretValue("registry-token"))},
        builders=("linux/arm64=tcp://arm64-host:1234",),
        out=tmp_path,
    )
    builders = release_builders([], door.builders)
    split = _split_build(builders, build, HostSource(str(tmp_path)), door)
    assert split is not None and split.builders == builders and split.log_dir == tmp_path
    client = RecordingClient()
    source, spec = split.inputs(cast(dagger.Client, client))
    assert client.secrets == {"npm_token": "s3cret"} and client.directories == [str(tmp_path)]
    assert source == f"directory:{tmp_path}" and list(spec.secrets) == ["secret:npm_token"]
    assert spec.build_args == {"VERSION": "1.2.3"} and spec.dockerfile == "Dockerfile"
    assert _split_build((), build, HostSource(str(tmp_path)), Door()) is None
