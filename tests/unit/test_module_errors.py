"""The Dagger functions end with the same one-line errors as the CLI, called as the SDK calls them."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import anyio
import pytest

from shipyard.dagger_errors import one_line_errors
from shipyard.main import Shipyard
from shipyard.sdk import FunctionError
from tests.unit.test_doors import LocalDirectory

EMPTY = cast(Any, LocalDirectory(Path(tempfile.mkdtemp(prefix="shipyard-empty-"))))  # a source without settings or Git

CASES: dict[str, tuple[Callable[[Shipyard], Any], str]] = {
    "epoch after 9999": (
        lambda s: anyio.run(lambda: s.plan(tag="v1.2.3", source=EMPTY, source_date_epoch=253402300800)),
        "--source-date-epoch 253402300800: is after",
    ),
    "scan gate of nothing": (lambda s: anyio.run(lambda: s.plan(tag="v1.2.3", source=EMPTY, scan_fail_on=",")), "--scan-fail-on ','"),
    "target path": (
        lambda s: anyio.run(lambda: s.plan(tag="v1.2.3", source=EMPTY, target=["GHCR.io//x:"])),
        "--image 'GHCR.io//x:': has an empty path",
    ),
    "trailing comma": (
        lambda s: anyio.run(lambda: s.tags(source=EMPTY, ref="refs/tags/v1", spec="type=raw,value=x,")),
        "tag spec 'type=raw,value=x,'",
    ),
    "registry address": (lambda s: s.with_registry_auth(address="ghcr.io/acme", username="u", secret=None), "--address 'ghcr.io/acme'"),
    "age overflow": (lambda s: anyio.run(lambda: s.cleanup(repository="127.0.0.1:1/x", older_than="1000000000d")), "--older-than"),
    "port": (lambda s: anyio.run(lambda: s.cleanup(repository="127.0.0.1:99999/x")), "--image '127.0.0.1:99999/x': port 99999"),
    "unreachable": (lambda s: anyio.run(lambda: s.cleanup(repository="127.0.0.1:1/x")), "registry 127.0.0.1:1: listing tags"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_mistake_ends_the_function_with_the_clear_message(case: tuple[Callable[[Shipyard], Any], str]) -> None:
    call, message = case
    with pytest.raises(FunctionError) as err:
        call(Shipyard())
    assert message in str(err.value) and "\n" not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__  # the SDK logs no chained traceback


def test_the_plan_function_sees_the_configured_registries() -> None:
    shipyard = cast(Shipyard, Shipyard().with_registry_auth(address="GHCR.io", username="bot", secret=None))
    text = cast(str, anyio.run(lambda: shipyard.plan(tag="v1.2.3", source=EMPTY, target=["ghcr.io/acme/app"])))
    assert "ghcr.io/acme/app (required)" in text


def test_a_bug_is_not_disguised_as_a_user_error() -> None:
    with pytest.raises(KeyError), one_line_errors():
        raise KeyError("boom")
