"""The one options model: each argument main.py declares reaches exactly one option, read once
(commands/options.py), so an argument added to the surface without a home there fails here."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from shipyard.arguments import functions
from shipyard.commands import DOOR_ARGUMENTS
from shipyard.commands.options import Arguments, build_options, release_options_from
from shipyard.commands.settings import Settled
from shipyard.commands.verify import verify_options_from
from shipyard.main import Shipyard
from shipyard.release.config import SigningMode
from shipyard.release.settings import SettingsFile
from shipyard.release.vocabulary import RENAMED

SETTLED = Settled(arguments={}, origins={}, file=SettingsFile())


def declared(function: str) -> set[str]:
    """The arguments a door hands to the command: declared in main.py, old spellings renamed."""
    names = {a.name for a in functions(Shipyard)[function]} - DOOR_ARGUMENTS
    return names - set(RENAMED.get(function, {}))


def given(function: str, **values: Any) -> dict[str, Any]:
    return {name: values.get(name) for name in declared(function)}


def test_every_publish_argument_is_read_by_the_options_builder() -> None:
    read = Arguments(given("publish", tag="v1.2.3"))
    options = release_options_from("publish", read, SETTLED)
    assert read.read == declared("publish")
    assert options.targets.tag == "v1.2.3" and options.signing.mode is SigningMode.AUTO


def test_plan_takes_a_subset_of_publish_and_the_rest_defaults() -> None:
    assert declared("plan") <= declared("publish")
    options = release_options_from("plan", Arguments(given("plan", tag="v1", platform=["linux/arm64"])), SETTLED)
    assert options.build.platforms == ("linux/arm64",) and options.smoke.platforms == "all" and options.targets.registry_timeout == 30


@pytest.mark.parametrize(("function", "build"), [("build", {"runner"}), ("rebuild_check", {"tag", "image"})])
def test_build_and_rebuild_check_share_the_build_group(function: str, build: set[str]) -> None:
    read = Arguments(given(function))
    build_options(read)
    assert read.read - {"from_"} == declared(function) - build


def test_every_verify_argument_is_read() -> None:
    read = Arguments(given("verify"))
    verify_options_from(read)
    assert read.read == declared("verify")


def test_an_argument_no_option_reads_is_a_wiring_error() -> None:
    with pytest.raises(RuntimeError, match=r"\['smoke_colour'\] reach no option"):
        release_options_from("publish", Arguments({**given("publish", tag="v1"), "smoke_colour": "red"}), SETTLED)


def test_plan_and_publish_build_the_same_options_from_the_same_flags() -> None:
    flags = {"tag": "v1.2.3", "image": ["ghcr.io/acme/app"], "platform": ["linux/arm64"], "sign": SigningMode.NONE, "no_scan": True}
    planned = release_options_from("plan", Arguments(given("plan", **flags)), SETTLED, ("linux/arm64=tcp://arm:1234",))
    published = release_options_from("publish", Arguments(given("publish", **flags)), SETTLED, ("linux/arm64=tcp://arm:1234",))
    assert dataclasses.replace(planned, command="publish") == published
