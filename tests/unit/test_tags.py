"""Tag strategy: metadata-action's documented examples, Shipyard's release table, invariants."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.plan.errors import InvalidInput
from shipyard.plan.refs import TAG_PATTERN
from shipyard.plan.tags import GitContext, compute_tags, parse_flavor, parse_tag_specs, sanitize_tag, tags_for

SHA = "860c1904a1ce19322e91ac35af1ab07466440c37"


def tags(ref: str, specs: list[str] | None = None, flavor: list[str] | None = None, event: str = "push", branch: str = "main") -> list[str]:
    return list(tags_for(ref=ref, sha=SHA, event=event, default_branch=branch, specs=specs, flavor=flavor).tags)


@pytest.mark.parametrize(
    ("ref", "pattern", "expected"),
    [
        ("refs/tags/v1.2.3", "{{raw}}", "v1.2.3"),
        ("refs/tags/v1.2.3", "{{version}}", "1.2.3"),
        ("refs/tags/v1.2.3", "{{major}}.{{minor}}", "1.2"),
        ("refs/tags/v1.2.3", "v{{major}}", "v1"),
        ("refs/tags/v1.2.3", "{{minor}}", "2"),
        ("refs/tags/v1.2.3", "{{patch}}", "3"),
        ("refs/tags/v2.0.8-beta.67", "{{raw}}", "v2.0.8-beta.67"),
        ("refs/tags/v2.0.8-beta.67", "{{version}}", "2.0.8-beta.67"),
        ("refs/tags/v2.0.8-beta.67", "{{major}}.{{minor}}", "2.0.8-beta.67"),
        ("refs/tags/v2.0.8-beta.67", "{{major}}", "2.0.8-beta.67"),
        ("refs/tags/1.2.3+build.5", "{{version}}", "1.2.3"),
        ("refs/tags/v1.2.3+build.5", "{{raw}}", "v1.2.3-build.5"),
    ],
)
def test_semver_patterns_match_metadata_action(ref: str, pattern: str, expected: str) -> None:
    assert tags(ref, [f"type=semver,pattern={pattern}"], ["latest=false"]) == [expected]


def test_semver_value_overrides_the_ref() -> None:
    assert tags("refs/heads/main", ["type=semver,pattern={{version}},value=v1.0.0"], ["latest=false"]) == ["1.0.0"]


@pytest.mark.parametrize("ref", ["refs/heads/main", "refs/tags/release-1", "refs/tags/v1.2", "refs/tags/v01.2.3", "refs/pull/3/merge"])
def test_semver_line_produces_nothing_for_refs_that_do_not_fit(ref: str) -> None:
    assert tags(ref, ["type=semver,pattern={{version}}"]) == []


@pytest.mark.parametrize(
    ("event", "ref", "line", "expected"),
    [
        ("pull_request", "refs/pull/2/merge", "type=ref,event=pr", ["pr-2"]),
        ("push", "refs/heads/master", "type=ref,event=branch", ["master"]),
        ("push", "refs/heads/my/branch", "type=ref,event=branch", ["my-branch"]),
        ("push", "refs/tags/v1.2.3", "type=ref,event=tag", ["v1.2.3", "latest"]),
        ("push", "refs/tags/v2.0.8-beta.67", "type=ref,event=tag", ["v2.0.8-beta.67"]),
        ("push", "refs/heads/main", "type=ref,event=tag", []),
        ("push", "refs/heads/main", "type=ref,event=pr", []),
    ],
)
def test_ref_lines(event: str, ref: str, line: str, expected: list[str]) -> None:
    assert tags(ref, [line], event=event) == expected


def test_schedule_only_on_scheduled_runs_with_top_priority() -> None:
    assert tags("refs/heads/main", ["type=schedule", "type=sha"], event="schedule") == ["nightly", "sha-860c190"]
    assert tags("refs/heads/main", ["type=schedule,pattern=weekly", "type=ref,event=branch"], event="schedule") == ["weekly", "main"]
    assert tags("refs/heads/main", ["type=schedule", "type=sha"], event="push") == ["sha-860c190"]


def test_edge_only_on_the_configured_branch() -> None:
    assert tags("refs/heads/master", ["type=edge"], branch="master") == ["edge"]
    assert tags("refs/heads/feature", ["type=edge"], branch="master") == []
    assert tags("refs/heads/develop", ["type=edge,branch=develop"]) == ["edge"]


def test_sha_short_and_long() -> None:
    assert tags("refs/heads/main", ["type=sha"]) == ["sha-860c190"]
    assert tags("refs/heads/main", ["type=sha,format=long"]) == [f"sha-{SHA}"]
    assert tags("refs/heads/main", ["type=sha,prefix="]) == ["860c190"]


def test_raw_with_expressions() -> None:
    assert tags("refs/heads/main", ["type=raw,value={{branch}}-{{sha}}"]) == ["main-860c190"]
    assert tags("refs/heads/main", ["type=raw,value=latest,enable={{is_default_branch}}"]) == ["latest"]
    assert tags("refs/heads/dev", ["type=raw,value=latest,enable={{is_default_branch}}"]) == []
    assert tags("refs/heads/main", ["foo"]) == ["foo"]  # a bare value is type=raw


BASIC = [
    "type=ref,event=branch",
    "type=ref,event=pr",
    "type=semver,pattern={{version}}",
    "type=semver,pattern={{major}}.{{minor}}",
    "type=semver,pattern={{major}}",
    "type=sha",
]


@pytest.mark.parametrize(
    ("event", "ref", "expected"),
    [
        ("push", "refs/tags/v1.2.3", ["1.2.3", "1.2", "1", "sha-860c190", "latest"]),
        ("push", "refs/tags/v2.0.8-beta.67", ["2.0.8-beta.67", "sha-860c190"]),
        ("push", "refs/heads/master", ["master", "sha-860c190"]),
        ("pull_request", "refs/pull/2/merge", ["pr-2", "sha-860c190"]),
    ],
)
def test_pasted_basic_block_gives_metadata_action_output(event: str, ref: str, expected: list[str]) -> None:
    assert tags(ref, BASIC, event=event) == expected


def test_priority_orders_lines_and_first_value_is_version() -> None:
    result = tags_for(ref="refs/tags/v1.2.3", sha=SHA, specs=["type=sha", "type=raw,value=first,priority=2000"])
    assert result.version == "first"
    assert list(result.tags) == ["first", "sha-860c190"]


def test_equal_priority_keeps_written_order() -> None:
    assert tags("refs/heads/main", ["type=raw,value=b", "type=raw,value=a", "type=raw,value=c"]) == ["b", "a", "c"]


def test_flavor_prefix_suffix_and_onlatest() -> None:
    flavor = ["latest=auto", "prefix=foo-", "suffix=-bar,onlatest=true"]
    assert tags("refs/tags/v1.2.3", ["type=semver,pattern={{version}}"], flavor) == ["foo-1.2.3-bar", "latest-bar"]


def test_line_prefix_overrides_flavor_prefix() -> None:
    assert tags("refs/tags/v1.2.3", ["type=semver,pattern={{version}},prefix=v"], ["prefix=x-"]) == ["v1.2.3", "latest"]


@pytest.mark.parametrize(
    ("flavor", "ref", "latest"),
    [
        ("latest=true", "refs/heads/main", True),
        ("latest=false", "refs/tags/v1.2.3", False),
        ("latest=auto", "refs/tags/v1.2.3", True),
        ("latest=auto", "refs/tags/v1.2.3-rc.1", False),
        ("latest=auto", "refs/heads/main", False),
    ],
)
def test_latest_flavor(flavor: str, ref: str, latest: bool) -> None:
    out = tags(ref, ["type=semver,pattern={{version}}", "type=ref,event=branch"], [flavor])
    assert ("latest" in out) is latest


def test_latest_auto_is_decided_by_the_highest_priority_line_that_produced() -> None:
    # the raw line outranks semver, so latest=auto follows it (no latest)
    out = tags("refs/tags/v1.2.3", ["type=semver,pattern={{version}}", "type=raw,value=x,priority=1000"])
    assert out == ["x", "1.2.3"]


def test_duplicates_dropped_and_latest_last() -> None:
    out = tags(
        "refs/tags/v1.0.0",
        ["type=semver,pattern={{version}}", "type=semver,pattern={{major}}.{{minor}}.{{patch}}", "type=raw,value=latest"],
    )
    assert out == ["1.0.0", "latest"]


def test_outputs_are_sanitized() -> None:
    assert tags("refs/heads/main", ["type=raw,value=a b/c@@d"]) == ["a-b-c-d"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("type=nope", "unknown type 'nope'"),
        ("type=semver", "needs a pattern"),
        ("type=ref", "needs an event"),
        ("type=ref,event=commit", "unknown event 'commit'"),
        ("type=sha,format=medium", "unknown format"),
        ("type=raw,value=x,priority=high", "non-numeric priority"),
        ("type=raw", "needs a value"),
        ("type=match,pattern=v(.*)", "not supported"),
        ("type=schedule,pattern=nightly-{{date 'YYYYMMDD'}}", "unknown expression"),
        ("type=raw,value=x,enable=${{ github.ref == 'x' }}", "unevaluated GitHub expression"),
        ("type=raw,value={{date 'YYYY'}}", "unknown expression"),
    ],
)
def test_bad_tag_lines_are_errors_naming_the_line(line: str, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        tags("refs/heads/main", [line])
    assert message in str(err.value)
    assert "tag spec" in str(err.value) or "value" in str(err.value)


@pytest.mark.parametrize("line", ["latest=maybe", "colour=blue", "prefix", "prefix=a,onlatest=yes"])
def test_bad_flavor_lines_are_errors(line: str) -> None:
    with pytest.raises(InvalidInput, match="flavor"):
        parse_flavor([line])


def test_bad_enable_value_is_an_error() -> None:
    with pytest.raises(InvalidInput, match="enable"):
        tags("refs/heads/main", ["type=raw,value=x,enable=yes"])


def test_comments_and_blank_lines_are_ignored() -> None:
    assert len(parse_tag_specs(["# heading", "", "type=sha", "  "])) == 1


# --- Shipyard's default strategy: the release table --------------------------------------


@pytest.mark.parametrize(
    ("tag", "event", "expected"),
    [
        ("v1.2.3", "push", ["1.2.3", "1.2", "1", "sha-860c190", "latest"]),
        ("1.2.3", "release", ["1.2.3", "1.2", "1", "sha-860c190", "latest"]),
        ("v2.0.0-rc.1", "push", ["2.0.0-rc.1", "sha-860c190"]),
        ("v0.3.1", "push", ["0.3.1", "0.3", "sha-860c190", "latest"]),
        ("v1.2.3", "workflow_dispatch", ["1.2.3", "1.2", "1", "sha-860c190", "latest"]),
        ("nightly-2024", "workflow_dispatch", ["nightly-2024"]),
        ("nightly", "push", ["nightly", "sha-860c190"]),
    ],
)
def test_default_release_table(tag: str, event: str, expected: list[str]) -> None:
    assert tags(f"refs/tags/{tag}", event=event) == expected


def test_default_for_branches_and_prs() -> None:
    assert tags("refs/heads/main") == ["main", "sha-860c190"]
    assert tags("refs/pull/9/merge", event="pull_request") == ["pr-9", "sha-860c190"]


def test_without_sha_there_is_no_sha_tag() -> None:
    assert list(tags_for(ref="refs/tags/v1.2.3").tags) == ["1.2.3", "1.2", "1", "latest"]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"ref": "v1.2.3"}, "ref"), ({"ref": "refs/tags/v1", "sha": "abc"}, "sha"), ({"ref": "refs/tags/v1", "event": "cron"}, "event")],
)
def test_bad_context_names_the_input(kwargs: dict[str, str], name: str) -> None:
    with pytest.raises(InvalidInput) as err:
        GitContext(**kwargs)
    assert str(err.value).startswith(name)


def test_json_shape() -> None:
    data = json.loads(json.dumps(tags_for(ref="refs/tags/v1.2.3", sha=SHA).to_json()))
    assert data == {"version": "1.2.3", "tags": ["1.2.3", "1.2", "1", "sha-860c190", "latest"]}


# --- invariants ----------------------------------------------------------------------------

_ident = st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True)
versions = st.builds(
    lambda ma, mi, pa, pre: f"v{ma}.{mi}.{pa}" + (f"-{pre}.1" if pre else ""),
    st.integers(0, 30),
    st.integers(0, 30),
    st.integers(0, 30),
    st.one_of(st.none(), _ident),
)
raw_values = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126, exclude_characters='{},"#='), min_size=1, max_size=20
).filter(str.strip)


@given(versions, st.lists(raw_values, max_size=4))
def test_outputs_sanitized_unique_and_latest_last(version: str, raws: list[str]) -> None:
    specs = BASIC + [f"type=raw,value={r.strip()}" for r in raws]
    try:
        result = compute_tags(GitContext.for_tag(version, sha=SHA), parse_tag_specs(specs), parse_flavor(["latest=auto"]))
    except InvalidInput as err:  # a value no registry accepts (e.g. starting with '-') is refused, never emitted
        assert err.name == "computed image tag" and not TAG_PATTERN.fullmatch(str(err.value))
        return
    assert len(set(result.tags)) == len(result.tags)
    assert all(sanitize_tag(t) == t and TAG_PATTERN.fullmatch(t) for t in result.tags)
    if "latest" in result.tags and result.latest:
        assert result.tags[-1] == "latest"


@given(versions)
def test_prerelease_never_gets_latest_under_auto(version: str) -> None:
    for specs in (None, BASIC, ["type=ref,event=tag"], ["type=semver,pattern={{raw}}"]):
        result = compute_tags(GitContext.for_tag(version, sha=SHA), parse_tag_specs(specs) if specs else None)
        if "-" in version:
            assert not result.latest and "latest" not in result.tags
