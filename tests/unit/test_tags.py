"""Tag strategy: metadata-action's documented examples, Shipyard's release table, invariants."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.errors import InvalidInput
from shipyard.tagging.tags import GitContext, compute_tags, parse_flavor, parse_tag_specs, tags_for
from shipyard.values.refs import TAG_PATTERN

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
        ("push", "refs/tags/v2.0.8-beta.67", "type=ref,event=tag", ["v2.0.8-beta.67", "latest"]),
        ("push", "refs/tags/p1/v1.0.0", "type=ref,event=tag", ["p1-v1.0.0", "latest"]),
        ("pull_request", "refs/pull/2/head", "type=ref,event=pr", ["pr-2-head"]),
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
        ("type=match", "needs a pattern"),
        ("type=match,pattern=v(.*,group=1", "is not valid"),
        ("type=match,pattern=/v(.*)/q", "flags"),
        ("type=match,pattern=v(.*),group=one", "non-numeric group"),
        ("type=pep440", "needs a pattern"),
        ("type=raw,value=x,enable=${{ github.ref == 'x' }}", "unevaluated GitHub expression"),
        ("type=raw,value={{nope}}", "unknown expression {{nope}}"),
        ("type=schedule,pattern=nightly-{{branch}}", "unknown expression {{branch}}"),
        ("type=semver,pattern={{date 'YYYY'}}", "unknown expression {{date}}"),
        ("type=raw,value={{#if is_default_branch}}x{{/if}}", "block"),
        ("type=raw,value=-x", "not a valid image tag"),
        ("type=raw,value={{date 'YYYY' zone='UTC'}}", "unknown attributes"),
        ("type=raw,value={{date 'YYYY' tz='Mars/Olympus'}}", "not a known time zone"),
    ],
)
def test_bad_tag_lines_are_errors_naming_the_line(line: str, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        tags("refs/heads/main", [line])
    assert message in str(err.value)
    assert "tag spec" in str(err.value) or "value" in str(err.value)


@pytest.mark.parametrize(
    "line", ["latest=maybe", "colour=blue", "prefix", "prefix=a,onlatest=yes", "prerelease-latest=no", "prefix={{nope}}-"]
)
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
    [({"ref": "v1.2.3"}, "ref"), ({"ref": "refs/tags/v1", "sha": "abc"}, "sha"), ({"ref": "refs/tags/v1", "event": "cron"}, "--event")],
)
def test_bad_context_names_the_input(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(InvalidInput) as err:
        GitContext(**kwargs)
    assert str(err.value).startswith(name)


def test_json_shape() -> None:
    data = json.loads(json.dumps(tags_for(ref="refs/tags/v1.2.3", sha=SHA).to_dict()))
    assert data == {"version": "1.2.3", "tags": ["1.2.3", "1.2", "1", "sha-860c190", "latest"], "latest": True}


def test_no_ref_gives_no_tags_and_no_version() -> None:
    assert tags_for(ref="", sha=SHA).to_dict() == {"version": None, "tags": [], "latest": False}
    assert tags_for(ref="", specs=["type=sha", "type=raw,{{branch}}"]).version is None


# --- metadata-action parity details (the full upstream table is test_metadata_action_parity) --


def test_prerelease_latest_flavor_keeps_latest_on_releases_only() -> None:
    for line in ("type=ref,event=tag", r"type=match,pattern=\d.\d.\d"):
        assert "latest" in tags("refs/tags/v2.0.0-rc.1", [line])  # metadata-action moves latest
        assert "latest" not in tags("refs/tags/v2.0.0-rc.1", [line], ["prerelease-latest=false"])
        assert "latest" not in tags("refs/tags/1.0rc1", [line], ["prerelease-latest=false"])
        assert "latest" in tags("refs/tags/v2.0.0", [line], ["prerelease-latest=false"])


def test_sha_with_branch_prefix() -> None:
    assert tags("refs/heads/main", ["type=sha,prefix={{branch}}-"]) == ["main-860c190"]
    with pytest.raises(InvalidInput, match="not a valid image tag"):
        tags("refs/tags/v1.0.0", ["type=sha,prefix={{branch}}-"])  # '-860c190': a registry would refuse it


@pytest.mark.parametrize(
    ("ref", "event", "expected"),
    [
        ("refs/heads/main", "push", ("true", "false")),
        ("refs/heads/dev", "push", ("false", "true")),
        ("refs/heads/dev", "schedule", ("true", "false")),  # scheduled runs are on the default branch
        ("refs/tags/v1.0.0", "push", ("false", "true")),
        ("refs/tags/v1.0.0", "create", ("true", "false")),  # as metadata-action: create runs on the default branch
        ("refs/pull/1/merge", "pull_request", ("false", "true")),
    ],
)
def test_default_branch_expressions(ref: str, event: str, expected: tuple[str, str]) -> None:
    out = tags(ref, ["type=raw,value={{is_default_branch}}-{{is_not_default_branch}}"], event=event)
    assert out == ["-".join(expected)]


def test_base_ref_only_for_tags_and_pull_requests() -> None:
    line = ["type=raw,value=base-{{base_ref}}"]
    assert list(tags_for(ref="refs/tags/v1", base_ref="refs/heads/main", specs=line).tags) == ["base-main"]
    assert list(tags_for(ref="refs/pull/4/merge", base_ref="develop", specs=line).tags) == ["base-develop"]
    assert list(tags_for(ref="refs/heads/x", base_ref="develop", specs=line).tags) == ["base-"]


def test_dates_use_source_date_epoch_then_the_commit_time() -> None:
    line = ["type=raw,value={{date 'YYYYMMDD-HHmm'}}_{{commit_date 'YYYYMMDD-HHmm' tz='Asia/Tokyo'}}"]
    both = tags_for(ref="refs/heads/main", specs=line, source_date_epoch=1578616200, commit_epoch=1600000000)
    assert list(both.tags) == ["20200110-0030_20200913-2126"]
    only_commit = tags_for(ref="refs/heads/main", specs=line, commit_epoch=1600000000)
    assert list(only_commit.tags) == ["20200913-1226_20200913-2126"]
    with pytest.raises(InvalidInput, match="never reads the clock"):
        tags_for(ref="refs/heads/main", specs=line)


def test_unquoted_date_format_is_the_iso_default() -> None:
    out = tags_for(ref="refs/heads/main", specs=["type=raw,value={{date YYYYMMDD}}"], source_date_epoch=1578616200)
    assert list(out.tags) == ["2020-01-10T00-30-00Z"]


def test_expression_output_is_escaped_as_handlebars_does() -> None:
    # Handlebars HTML-escapes {{...}} output ('=' -> '&#x3D;'), then the tag is sanitized.
    assert tags("refs/heads/a=b", ["type=raw,value={{branch}}"]) == ["a-x3D-b"]
    assert tags("refs/heads/a=b", ["type=raw,value={{{branch}}}"]) == ["a-b"]


@pytest.mark.parametrize(
    ("ref", "line", "expected"),
    [
        ("refs/tags/v1.2.3", "type=pep440,pattern={{version}}", ["1.2.3", "latest"]),
        ("refs/tags/1!2.0", "type=pep440,pattern={{major}}.{{minor}}", ["2.0", "latest"]),
        ("refs/tags/1.2", "type=pep440,pattern={{major}}.{{minor}}.{{patch}}", ["1.2.0", "latest"]),
        ("refs/tags/1.0rc1", "type=pep440,pattern={{major}}", ["1.0rc1"]),
        ("refs/tags/1.0+abc.5", "type=pep440,pattern={{version}}", ["1.0-abc-5", "latest"]),
        ("refs/tags/v1.2.3", r"type=match,pattern=/V(\d+)\.(\d+)/i,group=2", ["2", "latest"]),
        ("refs/tags/v1.2.3", r"type=match,pattern=/\d/g,group=2", ["3", "latest"]),
        ("refs/tags/v1.2.3", r"type=match,pattern=(?<major>\d)\.\k<major>,group=1", []),
        ("refs/tags/v1.1.3", r"type=match,pattern=(?<major>\d)\.\k<major>,group=1", ["1", "latest"]),
        ("refs/tags/p1/v1.2.3", r"type=semver,pattern={{version}},match=v(\d.\d.\d)$", ["1.2.3", "latest"]),
        ("refs/tags/v1.2.3+b.5", "type=semver,pattern={{build}}", ["b-5", "latest"]),
    ],
)
def test_pep440_and_match_lines(ref: str, line: str, expected: list[str]) -> None:
    assert tags(ref, [line]) == expected


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
def test_outputs_are_valid_unique_image_tags_in_order(version: str, raws: list[str]) -> None:
    specs = BASIC + [f"type=raw,value={r.strip()}" for r in raws]
    try:
        result = compute_tags(GitContext.for_tag(version, sha=SHA), parse_tag_specs(specs), parse_flavor(["latest=auto"]))
    except InvalidInput as exc:  # a value no registry accepts is refused, naming its line
        assert "not a valid image tag" in str(exc) and "type=raw" in str(exc)
        return
    assert all(TAG_PATTERN.fullmatch(t) for t in result.tags)
    assert len(set(result.tags)) == len(result.tags)
    assert result.tags[0] == result.version
    # metadata-action's order: lines by priority (semver 900 before raw 200 before sha 100), latest last
    if result.tags[0][0].isdigit():
        assert result.tags.index(f"sha-{SHA[:7]}") == len(result.tags) - 1 - int(result.latest)
    if result.latest:
        assert result.tags[-1] == "latest"


@given(versions)
def test_prerelease_never_gets_latest_from_version_lines(version: str) -> None:
    for specs in (None, BASIC, ["type=semver,pattern={{raw}}"], ["type=pep440,pattern={{version}}"]):
        result = compute_tags(GitContext.for_tag(version, sha=SHA), parse_tag_specs(specs) if specs else None)
        if "-" in version:
            assert not result.latest and "latest" not in result.tags
    flavor = parse_flavor(["prerelease-latest=false"])
    result = compute_tags(GitContext.for_tag(version, sha=SHA), parse_tag_specs(["type=ref,event=tag"]), flavor)
    assert result.latest is ("-" not in version)


@given(st.integers(min_value=0, max_value=2**33), st.sampled_from(["X", "YYYYMMDDHHmmss", "x"]))
def test_dates_depend_on_the_given_clock_only(epoch: int, fmt: str) -> None:
    line = [f"type=raw,value=d{{{{date '{fmt}'}}}}"]
    first = tags_for(ref="refs/heads/main", specs=line, source_date_epoch=epoch)
    again = tags_for(ref="refs/heads/main", specs=line, source_date_epoch=epoch)
    assert first == again
    if fmt == "X":
        assert first.tags == (f"d{epoch}",)
