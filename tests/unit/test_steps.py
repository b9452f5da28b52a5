"""The release's step list (release/steps.py): one list the plan lists and the pipeline runs."""

from __future__ import annotations

import inspect

import pytest

from shipyard import pipeline
from shipyard.gates.smoke import smoke_plan
from shipyard.release.config import SbomFormat, ScanPolicy, SigningMode
from shipyard.release.plan import build_release_plan
from shipyard.release.steps import PROMOTE, PROVENANCE, PUSH, RELEASE, SBOM, SIGN, AtOnce, InOrder, Step, all_steps
from shipyard.steps.context import ReleaseArtifacts
from shipyard.values.platforms import parse_platforms

EVERY = ["build+assemble", "check-release-tags", "scan", "smoke", "push", "sbom", "provenance", "sign", "promote"]


def test_every_listed_step_has_exactly_one_runner() -> None:
    names = [step.name for step in all_steps()]
    assert names == EVERY  # each name once, in the list's order
    assert sorted(pipeline.RUNNERS) == sorted(names)
    for name, runner in pipeline.RUNNERS.items():
        assert inspect.iscoroutinefunction(runner), name
        assert runner.__module__.startswith("shipyard.steps."), f"{name}'s code lives in steps/, not {runner.__module__}"


def test_no_two_steps_share_a_runner() -> None:
    assert len({id(runner) for runner in pipeline.RUNNERS.values()}) == len(pipeline.RUNNERS)


def test_the_concurrent_group_after_the_build() -> None:
    """build -> check tags -> at once {scan, smoke, (push with sbom with provenance) -> sign} -> promote:
    cosign signs and attests in one container, once the SBOMs and the provenance exist."""
    assert isinstance(RELEASE, InOrder)
    build, check, group, promote = RELEASE.parts
    assert (build, check, promote) == tuple(s for s in all_steps() if s.name in {"build+assemble", "check-release-tags", "promote"})
    assert promote is PROMOTE
    assert isinstance(group, AtOnce)
    scan, smoke, chain = group.parts
    assert isinstance(scan, Step) and isinstance(smoke, Step) and (scan.name, smoke.name) == ("scan", "smoke")
    assert isinstance(chain, InOrder)
    first, sign = chain.parts
    assert isinstance(first, AtOnce) and first.parts == (PUSH, SBOM, PROVENANCE)
    assert sign is SIGN


def _names(**options: object) -> list[str]:
    return [s.name for s in build_release_plan(tag="v1.2.3", **options).steps]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, ["build+assemble", "check-release-tags", "push", "promote"]),
        ({"signing": SigningMode.KEY}, ["build+assemble", "check-release-tags", "push", "sign", "promote"]),
        ({"signing": SigningMode.NONE, "provenance": True}, ["build+assemble", "check-release-tags", "push", "provenance", "promote"]),
        ({"sbom_formats": [SbomFormat.SPDX_JSON]}, ["build+assemble", "check-release-tags", "push", "sbom", "promote"]),
        ({"scan": ScanPolicy()}, ["build+assemble", "check-release-tags", "scan", "push", "promote"]),
        (
            {"smoke": smoke_plan(platforms=parse_platforms(["linux/amd64"]), app=None, port=8080)},
            ["build+assemble", "check-release-tags", "smoke", "push", "promote"],
        ),
        (
            {
                "signing": SigningMode.KEYLESS,
                "sbom_formats": [SbomFormat.SPDX_JSON, SbomFormat.CYCLONEDX_JSON],
                "provenance": True,
                "scan": ScanPolicy(),
            },
            ["build+assemble", "check-release-tags", "scan", "push", "sbom", "provenance", "sign", "promote"],
        ),
    ],
)
def test_the_plan_lists_the_steps_its_options_enable(options: dict[str, object], expected: list[str]) -> None:
    assert _names(**options) == expected


def test_sign_off_lists_no_sign_step_and_describes_each_step_for_the_plan() -> None:
    plan = build_release_plan(
        tag="v1.2.3", signing=SigningMode.NONE, sbom_formats=[SbomFormat.CYCLONEDX_JSON], targets=["127.0.0.1:5000/a"]
    )
    described = {s.name: s.description for s in plan.steps}
    assert "sign" not in described
    assert "cyclonedx-json" in described["sbom"]
    assert "to 1 target(s)" in described["push"]


def test_the_report_lists_the_steps_that_ran_in_the_lists_order() -> None:
    artifacts = ReleaseArtifacts(ran=["build+assemble", "check-release-tags", "push", "scan", "sbom"])  # as they started
    assert pipeline.ran_steps(artifacts) == ("build+assemble", "check-release-tags", "scan", "push", "sbom")
