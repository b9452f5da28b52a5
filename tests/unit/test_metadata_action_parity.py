"""Every tag and version case of metadata-action's own tests, run through ``shipyard tags --json`` as users call it."""

from __future__ import annotations

import json
import tempfile

import pytest

from shipyard import cli
from tests.unit.metadata_action_cases import CASES, FIXTURES, MOCKED_NOW, Case

NO_GIT = tempfile.mkdtemp(prefix="shipyard-no-git-")  # tags reads --source's HEAD (default: the current directory)


def shipyard_tags(case: Case, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    context = FIXTURES[case.fixture]
    argv = ["tags", "--json", "--source-date-epoch", str(MOCKED_NOW), "--source", NO_GIT]  # the context gives --sha, or none
    for key, value in context.items():
        argv += [f"--{key.replace('_', '-')}", value]
    if case.tags:  # metadata-action's inputs: one block, one rule per line
        argv += ["--spec", "\n".join(case.tags)]
    if case.flavor:
        argv += ["--flavor", "\n".join(case.flavor)]
    code = cli.main(argv)
    captured = capsys.readouterr()
    if code == 2 and not captured.out and ("gives no image tag" in captured.err or "is empty, so there is no tag" in captured.err):
        return {"tags": [], "version": None, "latest": False}  # metadata-action outputs no tag; shipyard says so, exit 2
    assert code == 0, captured.err
    out: dict[str, object] = json.loads(captured.out)
    return out


def image_names(images: tuple[str, ...]) -> list[str]:
    """metadata-action's image list: ``name[,enable=false]``, lower-cased."""
    return [item.split(",")[0].lower() for item in images if "enable=false" not in item.replace(" ", "")]


def test_every_upstream_case_is_transcribed() -> None:
    assert len(CASES) == 136
    assert len({(c.group, c.name) for c in CASES}) == len(CASES)
    assert {c.fixture for c in CASES} <= set(FIXTURES)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.group}-{c.name}" for c in CASES])
def test_shipyard_tags_matches_metadata_action(case: Case, capsys: pytest.CaptureFixture[str]) -> None:
    assert not case.not_applicable, f"marked not applicable ({case.not_applicable}): every case must run"
    out = shipyard_tags(case, capsys)
    tags = out["tags"]
    assert isinstance(tags, list)
    names = image_names(case.images)
    produced = [f"{image}:{tag}" for image in names for tag in tags] if names else tags
    assert produced == list(case.expected)
    if case.states_version:
        assert out["version"] == case.version
    if case.latest is not None:
        assert out["latest"] is case.latest
    if case.partial is not None:
        latest_tags = tags[-1:] if out["latest"] else []
        assert tags == [case.version, *case.partial, *latest_tags] if case.version else tags == []
