"""The plan shows which Dockerfile stages cross-compile natively and which run per platform."""

from __future__ import annotations

from pathlib import Path

from shipyard.release.dockerfile import BuildStage, base_image_dockerfile, dockerfile_stages

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


def test_the_base_image_dockerfile_stops_at_the_built_stages_root() -> None:
    text = (
        "ARG BASE=debian:bookworm\n"
        "FROM --platform=$BUILDPLATFORM golang AS build\nRUN go build\n"
        "FROM ${BASE} AS runtime\nRUN apt-get \\\n  update\n"
        "FROM runtime AS final\nCOPY --from=build /app /app\n"
    )
    assert base_image_dockerfile(text) == (
        "ARG BASE=debian:bookworm\nFROM --platform=$BUILDPLATFORM golang AS build\nRUN go build\nFROM ${BASE} AS runtime\n"
    )
    assert base_image_dockerfile(text, "build") == "ARG BASE=debian:bookworm\nFROM --platform=$BUILDPLATFORM golang AS build\n"
    assert base_image_dockerfile("FROM scratch\nCOPY app /app\n") is None
    assert base_image_dockerfile("FROM scratch AS s\nCOPY a /a\nFROM s\nCOPY b /b\n") is None
    assert base_image_dockerfile("# no stages\n") is None
