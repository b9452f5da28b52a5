"""The plan shows which Dockerfile stages cross-compile natively and which run per platform."""

from __future__ import annotations

from pathlib import Path

from shipyard.plan.dockerfile import BuildStage, dockerfile_stages

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "app" / "Dockerfile"


def test_the_fixture_cross_compiles_and_emulates_its_final_run_step() -> None:
    assert dockerfile_stages(FIXTURE.read_text()) == (
        BuildStage(name="build", image="${GOLANG_IMAGE}", native=True, runs=True),
        BuildStage(name="stage 1", image="${BASE_IMAGE}", native=False, runs=True),
    )


def test_other_platform_pins_and_continuations() -> None:
    text = (
        "FROM --platform=linux/amd64 tools AS t\nFROM alpine\n# RUN not this\nCOPY x /\n"
        "FROM \\\n  --platform=${BUILDPLATFORM} golang AS b\nRUN \\\n go build\n"
    )
    stages = dockerfile_stages(text)
    assert [(s.name, s.native, s.runs) for s in stages] == [("t", False, False), ("stage 1", False, False), ("b", True, True)]
    assert "cross-compiles" in stages[2].describe() and "no RUN" in stages[1].describe()
