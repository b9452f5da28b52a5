"""The release plan: targets, credentials, steps, reproducible timestamps, rendering."""

from __future__ import annotations

import json

import pytest

from shipyard.errors import InvalidInput
from shipyard.release.config import SbomFormat, ScanPolicy, SigningMode, Target
from shipyard.release.plan import EPHEMERAL_REGISTRY, build_release_plan
from shipyard.tagging.tags import parse_tag_specs

SHA = "860c1904a1ce19322e91ac35af1ab07466440c37"


def test_full_plan_orders_steps_with_promotion_after_every_gate() -> None:
    plan = build_release_plan(
        tag="v1.2.3",
        sha=SHA,
        targets=["ghcr.io/acme/app", "docker.io/acme/app,optional"],
        credentials=["ghcr.io", "docker.io"],
        signing=SigningMode.KEY,
        sbom_formats=[SbomFormat.SPDX_JSON, SbomFormat.CYCLONEDX_JSON],
        provenance=True,
        scan=ScanPolicy(),
        commit_epoch=1700000000,
    )
    names = [s.name for s in plan.steps]
    assert names == ["build+assemble", "check-release-tags", "scan", "push", "sbom", "provenance", "sign", "promote"]
    assert plan.tags == ("1.2.3", "1.2", "1", "sha-860c190", "latest")
    assert [t.repository for t in plan.active_targets] == ["ghcr.io/acme/app", "docker.io/acme/app"]
    assert plan.annotations["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"
    assert plan.annotations["org.opencontainers.image.revision"] == SHA
    assert plan.platforms == ("linux/amd64", "linux/arm64")


def test_optional_target_without_credentials_is_skipped_with_a_notice() -> None:
    plan = build_release_plan(tag="v1.2.3", targets=["ghcr.io/acme/app", "docker.io/acme/app,optional"], credentials=["ghcr.io"])
    assert [t.repository for t in plan.active_targets] == ["ghcr.io/acme/app"]
    assert any("docker.io/acme/app skipped" in n for n in plan.notices)


def test_required_target_without_credentials_is_an_error_naming_the_registry() -> None:
    with pytest.raises(InvalidInput) as err:
        build_release_plan(tag="v1.2.3", targets=["ghcr.io/acme/app"])
    assert "ghcr.io" in str(err.value) and "with-registry-auth" in str(err.value)


def test_loopback_registries_need_no_credentials() -> None:
    plan = build_release_plan(tag="v1.2.3", targets=["127.0.0.1:5000/app", "localhost:5001/app"])
    assert len(plan.active_targets) == 2


def test_zero_config_publishes_to_the_ephemeral_registry() -> None:
    plan = build_release_plan(tag="v1.2.3")
    (target,) = plan.targets
    assert target.ephemeral and target.registry == EPHEMERAL_REGISTRY
    assert "ephemeral" in plan.render_text()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"tag": ""}, "--tag"),
        ({"tag": "v1.2.3", "platforms": ["linux/sparc"]}, "--platform"),
        ({"tag": "v1.2.3", "targets": ["127.0.0.1:5000/app", "127.0.0.1:5000/app"]}, "--image"),
        ({"tag": "refs/tags/v1.2.3"}, "--tag"),
        ({"tag": "v1 .2"}, "--tag"),
        ({"tag": "v1.2.3", "source_date_epoch": 253402300800}, "--source-date-epoch"),
        ({"tag": "v1.2.3", "source_date_epoch": -1}, "--source-date-epoch"),
        ({"tag": "v1.2.3", "credentials": ["ghcr.io/acme"]}, "--registry-credentials"),
    ],
)
def test_bad_input_fails_before_anything_runs_naming_the_input(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(InvalidInput) as err:
        build_release_plan(**kwargs)  # type: ignore[arg-type]
    assert str(err.value).startswith(name)


@pytest.mark.parametrize("tag", ["nightly", "main", "1.2", "latest", "1"])
def test_a_tag_that_is_no_version_is_refused_without_tag_rules(tag: str) -> None:
    with pytest.raises(InvalidInput, match=rf"--tag '{tag}': is not a semantic version.*--spec 'type=raw,value={tag}'"):
        build_release_plan(tag=tag, event="workflow_dispatch")


def test_a_custom_tag_asked_for_with_a_raw_rule_is_published_as_is() -> None:
    plan = build_release_plan(tag="nightly", event="workflow_dispatch", tag_specs=parse_tag_specs(["type=raw,value=nightly"]))
    assert plan.tags == ("nightly",) and not plan.latest


@pytest.mark.parametrize("name", ["1", "1.2", "latest"])
def test_a_custom_tag_never_takes_a_floating_tag_name_unless_allowed(name: str) -> None:
    rules = parse_tag_specs([f"type=raw,value={name}"])
    with pytest.raises(InvalidInput, match=rf"image tag '{name}': is the name of a floating tag.*--allow-floating-tags"):
        build_release_plan(tag="main", tag_specs=rules)
    assert name in build_release_plan(tag="main", tag_specs=rules, allow_floating_tags=True).tags


def test_an_upper_case_target_is_published_lower_case_with_a_notice() -> None:
    plan = build_release_plan(tag="v1.2.3", targets=["127.0.0.1:5000/Acme/App"])
    assert [t.repository for t in plan.targets] == ["127.0.0.1:5000/acme/app"]
    assert "--image '127.0.0.1:5000/Acme/App' is published as '127.0.0.1:5000/acme/app'" in " ".join(plan.notices)
    with pytest.raises(InvalidInput, match="names the same repository twice"):
        build_release_plan(tag="v1.2.3", targets=["127.0.0.1:5000/Acme/App", "127.0.0.1:5000/acme/app"])


def test_a_semver_release_still_moves_its_floating_tags() -> None:
    assert build_release_plan(tag="v1.2.3").tags == ("1.2.3", "1.2", "1", "latest")


def test_source_date_epoch_wins_over_commit_time_and_fallback_is_fixed() -> None:
    assert build_release_plan(tag="v1.0.0", source_date_epoch=5, commit_epoch=9).source_date_epoch == 5
    assert build_release_plan(tag="v1.0.0", commit_epoch=9).source_date_epoch == 9
    assert build_release_plan(tag="v1.0.0").source_date_epoch == 0


def test_json_rendering_round_trips() -> None:
    plan = build_release_plan(tag="v1.2.3", targets=["127.0.0.1:5000/app"], scan=ScanPolicy())
    data = json.loads(plan.to_json())
    assert data["version"] == "1.2.3"
    assert data["scan"]["fail_on"] == ["CRITICAL", "HIGH"]
    assert data["targets"][0]["repository"] == "127.0.0.1:5000/app"


def test_date_expressions_in_a_plan_use_source_date_epoch_not_the_clock() -> None:
    from shipyard.tagging.tags import parse_tag_specs

    plan = build_release_plan(tag="v1.2.3", tag_specs=parse_tag_specs(["type=raw,value={{date 'YYYYMMDD'}}"]), source_date_epoch=1700000000)
    assert plan.tags[0] == "20231114"


@pytest.mark.parametrize(
    "items",
    [
        ["localhost:5000/acme/app,optional", "ghcr.io/acme/app"],  # shipyard --target (argparse keeps the comma)
        ["localhost:5000/acme/app", "optional", "ghcr.io/acme/app"],  # dagger call --target: split at the comma (CSV)
        ["localhost:5000/acme/app", "optional=true", "ghcr.io/acme/app"],
    ],
)
def test_a_target_option_split_off_by_dagger_call_rejoins_its_repository(items: list[str]) -> None:
    assert [(t.repository, t.optional) for t in Target.parse_all(items)] == [
        ("localhost:5000/acme/app", True),
        ("ghcr.io/acme/app", False),
    ]


def test_an_option_with_no_repository_before_it_is_still_an_error() -> None:
    with pytest.raises(InvalidInput, match="--image"):
        Target.parse_all(["optional=maybe"])
