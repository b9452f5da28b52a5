"""Platforms: aliases, rejection of unknown ones, dedupe with stable order, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.errors import InvalidInput
from shipyard.values.platforms import KNOWN_PLATFORMS, parse_platform, parse_platforms


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/amd64", "linux/amd64"),
        ("linux/x86_64", "linux/amd64"),
        ("x86_64", "linux/amd64"),
        ("linux/aarch64", "linux/arm64"),
        ("linux/arm64/v8", "linux/arm64"),
        ("linux/armhf", "linux/arm/v7"),
        ("linux/armv7", "linux/arm/v7"),
        ("linux/arm", "linux/arm/v7"),
        ("armel", "linux/arm/v6"),
        ("LINUX/ARM64", "linux/arm64"),
        ("linux/i386", "linux/386"),
    ],
)
def test_aliases_normalise(text: str, expected: str) -> None:
    assert str(parse_platform(text)) == expected


@pytest.mark.parametrize(
    ("text", "message"), [("linux/sparc", "not a known platform"), ("windows/amd64", "not supported"), ("", "is empty")]
)
def test_unknown_platforms_are_rejected_with_the_known_list(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_platform(text)
    assert message in str(err.value)


def test_error_lists_known_platforms() -> None:
    with pytest.raises(InvalidInput, match="linux/arm/v7"):
        parse_platform("linux/mips")


def test_dedupe_keeps_first_seen_order_and_accepts_commas() -> None:
    got = parse_platforms(["linux/arm64,linux/amd64", "aarch64", "linux/arm/v7", "x86_64"])
    assert [str(p) for p in got] == ["linux/arm64", "linux/amd64", "linux/arm/v7"]


def test_empty_list_is_an_error() -> None:
    with pytest.raises(InvalidInput, match="names no platform"):
        parse_platforms([" , "])


@given(st.lists(st.sampled_from(KNOWN_PLATFORMS), min_size=1))
def test_round_trip_and_no_duplicates(items: list[str]) -> None:
    parsed = parse_platforms(items)
    assert len(set(parsed)) == len(parsed)
    assert all(str(parse_platform(str(p))) == str(p) for p in parsed)
    assert [str(p) for p in parsed] == list(dict.fromkeys(items))
