"""Called with `dagger call -m`, a default path resolves in Shipyard's own repository: refused.

The module's arguments are faked with local directories (tests/unit/test_doors.py's fakes); the
real engine's behaviour is tests/integration/test_from_your_repository.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import anyio
import dagger
import pytest

import shipyard.source
from shipyard.main import Shipyard
from shipyard.sdk import FunctionError
from shipyard.source import is_shipyard_tree
from tests.unit.test_doors import LocalDirectory, LocalFile

ROOT = Path(__file__).resolve().parents[2]


def test_shipyard_s_own_checkout_is_recognised_and_an_application_is_not(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    assert anyio.run(is_shipyard_tree, cast(dagger.Directory, LocalDirectory(ROOT)))
    assert not anyio.run(is_shipyard_tree, cast(dagger.Directory, LocalDirectory(tmp_path)))
    # a user's own module (a dagger.json of another name, even with a src/shipyard/) is theirs
    (tmp_path / "dagger.json").write_text('{"name": "app", "sdk": {"source": "go"}}')
    (tmp_path / "src" / "shipyard").mkdir(parents=True)
    (tmp_path / "src" / "shipyard" / "main.py").write_text("")
    assert not anyio.run(is_shipyard_tree, cast(dagger.Directory, LocalDirectory(tmp_path)))


def test_publish_without_source_asks_for_source_dot() -> None:
    source = cast(dagger.Directory, LocalDirectory(ROOT))
    with pytest.raises(FunctionError, match=r"^--source '\(default\)': is Shipyard's own repository.*Pass --source \. to release"):
        anyio.run(lambda: Shipyard().publish(tag="v1.2.3", source=source))


def test_build_without_source_asks_for_source_dot() -> None:
    source = cast(dagger.Directory, LocalDirectory(ROOT))
    with pytest.raises(FunctionError, match=r"Pass --source \. to release"):
        anyio.run(lambda: Shipyard().build(source=source))


def test_rebuild_check_without_source_asks_for_source_dot() -> None:
    source = cast(dagger.Directory, LocalDirectory(ROOT))
    with pytest.raises(FunctionError, match=r"Pass --source \. to release"):
        anyio.run(lambda: Shipyard().rebuild_check(tag="v1.2.3", against="localhost:5000/a:1", source=source))


class _Module:
    def source(self) -> Any:
        return LocalDirectory(ROOT)


class _Dag:
    def current_module(self) -> _Module:
        return _Module()


def test_sync_readme_refuses_shipyard_s_own_readme(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(shipyard.source, "dag", _Dag())
    own = cast(dagger.File, LocalFile(ROOT / "README.md"))
    with pytest.raises(FunctionError, match=r"^--readme '\(default\)': is Shipyard's own README.*Pass --readme README.md"):
        anyio.run(lambda: Shipyard().sync_readme(repository="docker.io/acme/app", readme=own))
    (tmp_path / "README.md").write_text("# acme/app\n")
    theirs = cast(dagger.File, LocalFile(tmp_path / "README.md"))
    anyio.run(shipyard.source.refuse_shipyard_readme, theirs)  # no error
