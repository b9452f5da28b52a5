"""Both doors give the same answer: ``shipyard X`` and the Dagger function X (called as the SDK
calls it) on the same inputs. Each test is a drift bug that existed between the two."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import anyio
import dagger
import pytest

from shipyard.cli import main
from shipyard.errors import RegistryError
from shipyard.main import Shipyard
from shipyard.reports.report import OutputFormat
from shipyard.retention.inventory import Inventory, Manifest
from shipyard.sdk import FunctionError

COMMIT_TIME = 1612325106  # 2021-02-03T04:05:06Z


class LocalFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    async def contents(self) -> str:
        return self.path.read_text()

    async def export(self, path: str) -> str:
        shutil.copyfile(self.path, path)
        return path


class LocalDirectory:
    """A ``dagger.Directory`` argument as module mode receives it, backed by a local directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def exists(self, path: str, expected_type: dagger.ExistsType | None = None, **_: Any) -> bool:
        target = self.root / path
        if expected_type is dagger.ExistsType.REGULAR_TYPE:
            return target.is_file()
        if expected_type is dagger.ExistsType.DIRECTORY_TYPE:
            return target.is_dir()
        return target.exists()

    def file(self, path: str) -> LocalFile:
        return LocalFile(self.root / path)

    def directory(self, path: str) -> LocalDirectory:
        return LocalDirectory(self.root / path)

    async def export(self, path: str, **_: Any) -> str:
        shutil.copytree(self.root, path)
        return path


class UnreadableSecret:
    """A Secret that must not be read (a dry run needs no token)."""

    async def plaintext(self) -> str:
        raise AssertionError("the plan read a secret")


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def module(call: Any) -> str:
    return cast(str, anyio.run(call))


@pytest.fixture(autouse=True)
def _no_tool_images_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI door reads $SHIPYARD_TOOL_IMAGES and a module sees no environment: compare the
    doors on the same (default) tool images, also after the integration tests exported the stack's."""
    monkeypatch.delenv("SHIPYARD_TOOL_IMAGES", raising=False)


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Git checkout with a Dockerfile, one commit at COMMIT_TIME and an origin remote."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    (tmp_path / "Dockerfile").write_text("FROM --platform=$BUILDPLATFORM golang AS build\nRUN go build\nFROM debian\nRUN true\n")
    env = {**os.environ, "GIT_AUTHOR_DATE": "2021-02-03T04:05:06Z", "GIT_COMMITTER_DATE": "2021-02-03T04:05:06Z"}
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run([*git, "remote", "add", "origin", "git@github.com:acme/app.git"], check=True)
    subprocess.run([*git, "add", "Dockerfile"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], check=True, env=env)
    return tmp_path


def same_but_the_cache_door(by_module: dict[str, Any], by_cli: dict[str, Any]) -> bool:
    """The two doors' plans agree, except that each says who sets the build cache: the CLI its
    options (none here), module mode the caller's dagger CLI environment."""
    assert by_module.pop("cache").startswith("set by the dagger CLI's environment"), by_module
    assert by_cli.pop("cache").startswith("none"), by_cli
    return by_module == by_cli


def test_plan_reads_the_git_source_the_same_in_both_doors(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(["plan", "--tag", "v1.2.3", "--source", str(checkout), "--event", "release", "--json"], capsys)
    assert code == 0, err
    source = cast(dagger.Directory, LocalDirectory(checkout))
    by_module = module(lambda: Shipyard().plan(tag="v1.2.3", source=source, event="release", format=OutputFormat.JSON))
    assert same_but_the_cache_door(json.loads(by_module), json.loads(out))
    plan = json.loads(out)
    sha = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert plan["source_date_epoch"] == COMMIT_TIME
    assert plan["annotations"]["org.opencontainers.image.revision"] == sha
    assert plan["annotations"]["org.opencontainers.image.source"] == "https://github.com/acme/app"
    assert f"sha-{sha[:7]}" in plan["tags"] and len(plan["stages"]) == 2


def test_plan_takes_the_event_in_both_doors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = cli(["plan", "--tag", "v1.2.3", "--event", "cron"], capsys)
    assert code == 2 and "--event 'cron'" in err
    with pytest.raises(FunctionError, match="--event 'cron'"):
        module(lambda: Shipyard().plan(tag="v1.2.3", source=cast(dagger.Directory, LocalDirectory(tmp_path)), event="cron"))


def test_source_date_epoch_from_the_environment_is_the_same_as_the_argument(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    code, out, err = cli(["plan", "--tag", "v1.2.3", "--source", str(tmp_path), "--json"], capsys)
    assert code == 0, err
    source = cast(dagger.Directory, LocalDirectory(tmp_path))
    by_module = module(lambda: Shipyard().plan(tag="v1.2.3", source=source, source_date_epoch=1700000000, format=OutputFormat.JSON))
    assert same_but_the_cache_door(json.loads(by_module), json.loads(out)) and json.loads(out)["source_date_epoch"] == 1700000000


def test_plan_after_with_registry_auth_publishes_to_that_registry_without_reading_the_secret(tmp_path: Path) -> None:
    secret = cast(dagger.Secret, UnreadableSecret())
    shipyard = cast(Shipyard, Shipyard().with_registry_auth(address="ghcr.io", username="bot", secret=secret))
    plan = json.loads(
        module(
            lambda: shipyard.plan(
                tag="v1.2.3", source=cast(dagger.Directory, LocalDirectory(tmp_path)), target=["ghcr.io/acme/app"], format=OutputFormat.JSON
            )
        )
    )
    assert [(t["repository"], t["skipped"]) for t in plan["targets"]] == [("ghcr.io/acme/app", None)]


def test_tags_json_is_the_same_object_in_both_doors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = cli(["tags", "--ref", "refs/tags/v1.2.3", "--source", str(tmp_path), "--json"], capsys)
    source = cast(dagger.Directory, LocalDirectory(tmp_path))
    by_module = module(lambda: Shipyard().tags(source=source, ref="refs/tags/v1.2.3", format=OutputFormat.JSON))
    assert code == 0 and json.loads(out) == json.loads(by_module) == {
        "version": "1.2.3",
        "tags": ["1.2.3", "1.2", "1", "latest"],
        "latest": True,
    }


class RefusingBackend:
    """A repository with one old untagged image whose delete the registry refuses."""

    async def inventory(self, repository: str) -> Inventory:
        digest = "sha256:" + "1" * 64
        return Inventory("fake/app", {}, {digest: Manifest(digest)})

    async def delete(self, repository: str, item: str) -> None:
        raise RegistryError("fake", "delete refused", 403)


def test_a_failed_cleanup_fails_in_both_doors(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    @asynccontextmanager
    async def refusing(*_: object) -> AsyncIterator[tuple[RefusingBackend, str]]:
        yield RefusingBackend(), "app"

    monkeypatch.setattr("shipyard.commands.cleanup.open_backend", refusing)
    code, out, _ = cli(["cleanup", "--image", "127.0.0.1:5000/app", "--keep-untagged", "0", "--apply"], capsys)
    assert code == 3 and "Failed 1:" in out and "delete refused" in out
    with pytest.raises(FunctionError) as err:  # `dagger call` exits non-zero with the report as the message
        module(lambda: Shipyard().cleanup(repository="127.0.0.1:5000/app", keep_untagged=0, apply=True))
    assert "Failed 1:" in str(err.value) and "delete refused" in str(err.value)
