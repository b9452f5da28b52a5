"""One vocabulary (docs/vocabulary.md): the new names work in both doors, the old spellings still
work with one warning on stderr, and both spellings at once is an error."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, cast

import anyio
import dagger
import pytest

from shipyard.cli import main
from shipyard.main import Shipyard
from shipyard.release.vocabulary import RENAMED, attestation_spellings, renamed_arguments
from shipyard.reports.report import OutputFormat
from shipyard.reports.verification import parse_attestation_types
from shipyard.sdk import FunctionError
from tests.unit.test_doors import LocalDirectory

EMPTY = cast(dagger.Directory, LocalDirectory(Path(tempfile.mkdtemp(prefix="shipyard-empty-"))))


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_every_old_name_is_still_an_argument_of_its_function() -> None:
    import inspect

    for command, names in RENAMED.items():
        parameters = inspect.signature(inspect.unwrap(getattr(Shipyard, command))).parameters
        for old, new in names.items():
            assert old in parameters and new in parameters, (command, old, new)
            assert "Deprecated" in str(parameters[old].annotation), (command, old)


def test_the_old_name_works_with_a_warning_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code, new, err = cli(["plan", "--tag", "v1.2.3", "--source", tempfile.mkdtemp(), "--image", "127.0.0.1:5000/app", "--json"], capsys)
    assert code == 0 and err == ""
    code, old, err = cli(["plan", "--tag", "v1.2.3", "--source", tempfile.mkdtemp(), "--target", "127.0.0.1:5000/app", "--json"], capsys)
    assert code == 0
    assert err == "shipyard: warning: --target is deprecated and will be removed in 0.3: use --image\n"
    assert json.loads(old)["targets"] == json.loads(new)["targets"]


def test_the_old_name_works_in_module_mode_too(capsys: pytest.CaptureFixture[str]) -> None:
    text: str = anyio.run(lambda: Shipyard().plan(tag="v1.2.3", source=EMPTY, target=["127.0.0.1:5000/app"], format=OutputFormat.JSON))
    assert json.loads(text)["targets"][0]["repository"] == "127.0.0.1:5000/app"
    assert "--target is deprecated" in capsys.readouterr().err


def test_both_spellings_at_once_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(["cleanup", "--image", "127.0.0.1:5000/a", "--repository", "127.0.0.1:5000/b"], capsys)
    assert code == 2 and out == "" and "--repository '127.0.0.1:5000/b': is the old name of --image, which is given too" in err
    with pytest.raises(FunctionError, match="is the old name of --image"):
        anyio.run(lambda: Shipyard().verify(image="127.0.0.1:1/a:1", ref="127.0.0.1:1/b:1"))


def test_provenance_flag_is_deprecated_not_silent() -> None:
    _, warnings = renamed_arguments("publish", {"provenance": True})
    assert warnings == ["--provenance is deprecated and will be removed in 0.3: provenance is on by default"]


@pytest.mark.parametrize(
    ("given", "cosign_types", "warned"),
    [
        (["spdx-json,provenance"], ("spdxjson", "slsaprovenance1"), 0),
        (["cyclonedx-json"], ("cyclonedx",), 0),
        (["spdxjson", "slsaprovenance1"], ("spdxjson", "slsaprovenance1"), 2),
    ],
)
def test_attestations_are_spelt_as_publish_spells_sbom_formats(given: list[str], cosign_types: tuple[str, ...], warned: int) -> None:
    spelt, warnings = attestation_spellings(given)
    assert parse_attestation_types(spelt) == cosign_types == parse_attestation_types(given) and len(warnings) == warned


def test_an_upper_case_image_is_lowercased_with_a_notice(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["plan", "--tag", "v1.2.3", "--source", tempfile.mkdtemp(), "--image", "127.0.0.1:5000/Acme/App", "--json"]
    code, out, err = cli(argv, capsys)
    plan: dict[str, Any] = json.loads(out)
    assert code == 0 and [t["repository"] for t in plan["targets"]] == ["127.0.0.1:5000/acme/app"]
    notice = "--image '127.0.0.1:5000/Acme/App' is published as '127.0.0.1:5000/acme/app' (repository names are lower case)"
    assert err == f"shipyard: notice: {notice}\n"
