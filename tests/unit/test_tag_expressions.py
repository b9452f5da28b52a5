"""The pieces under tag expressions: Handlebars-style templates, Moment-style dates, JavaScript regexes, versions.

Expected values were produced by the libraries metadata-action uses (handlebars, moment-timezone,
@renovate/pep440, semver), so these read as the behaviour we copy, not as our own guesses.
"""

from __future__ import annotations

import pytest

from shipyard.errors import InvalidInput
from shipyard.tagging import template
from shipyard.tagging.dates import format_instant
from shipyard.tagging.jsregex import compile_js
from shipyard.tagging.template import TemplateError
from shipyard.values.versions import pep440_fields, semver_fields

JAN_10_2020 = 1578616200  # 2020-01-10T00:30:00Z, the instant metadata-action's tests use


@pytest.mark.parametrize(
    ("fmt", "tz", "expected"),
    [
        ("YYYYMMDD-HHmmss", "Asia/Tokyo", "20200110-093000"),
        ("YYYY-MM-DDTHH:mm:ss.SSS[Z]", "UTC", "2020-01-10T00:30:00.000Z"),
        ("Do MMM YYYY, dddd h:mm a", "America/New_York", "9th Jan 2020, Thursday 7:30 pm"),
        ("GGGG-[W]WW-E", "UTC", "2020-W02-5"),
        ("gggg-ww-e", "UTC", "2020-02-5"),
        ("X x Z ZZ z", "Asia/Kolkata", "1578616200 1578616200000 +05:30 +0530 IST"),
        ("LLLL", "UTC", "Friday, January 10, 2020 12:30 AM"),
        ("\\Y[YYYY]Y", "UTC", "YYYYY2020"),
        ("kk:mm Qo DDDD", "UTC", "24:30 1st 010"),
        (None, "Asia/Tokyo", "2020-01-10T09:30:00+09:00"),
        (None, "UTC", "2020-01-10T00:30:00Z"),
    ],
)
def test_dates_format_like_moment(fmt: str | None, tz: str, expected: str) -> None:
    assert format_instant(JAN_10_2020, fmt, tz) == expected


def test_iso_and_locale_week_years_differ_at_new_year() -> None:
    assert format_instant(1609459199, "GGGG-WW gggg-ww YYYY") == "2020-53 2021-01 2020"


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(InvalidInput, match="time zone"):
        format_instant(0, "YYYY", "Mars/Olympus_Mons")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a {{~ b ~}} c \\{{b}} {{!x}}{{!-- y }} --}}e", "aB&amp;&#x3D;&#x27;c {{b}} e"),
        ("{{b}}{{{b}}}{{&b}}", "B&amp;&#x3D;&#x27;B&='B&='"),
        ("{{this.b}}|{{[b]}}", "B&amp;&#x3D;&#x27;|B&amp;&#x3D;&#x27;"),
    ],
)
def test_templates_render_like_handlebars(text: str, expected: str) -> None:
    assert template.render(text, {"b": lambda params, hash_args: "B&='"}) == expected


def test_template_arguments() -> None:
    seen: list[object] = []

    def helper(params: list[template.Argument], hash_args: dict[str, template.Argument]) -> str:
        seen.extend([params, hash_args])
        return ""

    template.render("{{f 'a\\'b' \"c\" 12 true bare tz='Asia/Tokyo'}}", {"f": helper})
    assert seen == [["a'b", "c", 12, True, None], {"tz": "Asia/Tokyo"}]


@pytest.mark.parametrize("text", ["{{raw }.", "{{#if x}}y{{/if}}", "{{> partial}}", "{{}}"])
def test_malformed_or_block_templates_are_errors(text: str) -> None:
    with pytest.raises(TemplateError):
        template.render(text, {"raw": lambda p, h: "", "x": lambda p, h: ""})


@pytest.mark.parametrize(
    ("pattern", "expected"), [("{{ raw }}.{{ version }}", False), ("{{ version }},{{raw }.", False), ("{{ raw }}", True), ("{{raw}}", True)]
)
def test_is_only_raw_matches_metadata_action_is_raw_statement(pattern: str, expected: bool) -> None:
    assert template.is_only(pattern, "raw") is expected


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        (r"v(\d.\d.\d)", "v1.2.3", ["v1.2.3", "1.2.3"]),
        (r"/^V(\d)/i", "v1", ["v1", "1"]),
        (r"/\d/g", "a1b2c3", ["1", "2", "3"]),
        (r"(a)|(b)", "b", ["b", None, "b"]),
        (r"(?<n>\d)-\k<n>", "3-3", ["3-3", "3"]),
        (r"[^]x", "\nx", ["\nx"]),
        (r"\d", "٣", None),  # \d is ASCII in JavaScript
        (r"/\d/y", "a1", None),
    ],
)
def test_js_regex_match_returns_what_string_match_returns(pattern: str, text: str, expected: list[str | None] | None) -> None:
    assert compile_js(pattern, line="t").match(text) == expected


@pytest.mark.parametrize(
    ("text", "version", "fields"),
    [
        ("v1.1.1", "1.1.1", ("1", "1", "1")),
        ("1.2", "1.2", ("1", "2", "0")),
        ("1!2.3.4", "1!2.3.4", ("2", "3", "4")),
        ("1.1beta2", "1.1b2", ("1", "1", "0")),
        ("1.0dev4", "1.0.dev4", ("1", "0", "0")),
        ("1.2post1", "1.2.post1", ("1", "2", "0")),
        ("01.02.003", "1.2.3", ("1", "2", "3")),
        ("1.0+abc.5", "1.0+abc,5", ("1", "0", "0")),
    ],
)
def test_pep440_fields_match_renovate_pep440(text: str, version: str, fields: tuple[str, str, str]) -> None:
    parsed = pep440_fields(text)
    assert parsed is not None
    f = parsed.fields()
    assert (f["version"], (f["major"], f["minor"], f["patch"])) == (version, fields)


@pytest.mark.parametrize("text", [" 1.2 ", "", "foo", "1.2.3-"])
def test_not_pep440(text: str) -> None:
    assert pep440_fields(text) is None


@pytest.mark.parametrize(("text", "valid"), [("v1.2.3", True), ("1.2.3+b.5", True), ("=1.2.3", False), ("V1.2.3", False), ("1.2", False)])
def test_semver_validity_matches_node_semver(text: str, valid: bool) -> None:
    assert (semver_fields(text) is not None) is valid
