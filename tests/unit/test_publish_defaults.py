"""publish's defaults follow the seed workflows: SPDX SBOM, provenance and the CRITICAL,HIGH gate
on; signing when a key is given. Each step is switched off with --no-<step> (signing: --sign none)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.cli import _parser, main
from shipyard.errors import InvalidInput
from shipyard.release.config import (
    SbomFormat,
    Severity,
    SigningMode,
    provenance_from_args,
    sbom_formats_from_args,
    scan_policy_from_args,
)
from shipyard.release.settings import ReleaseSettings


def test_the_cli_defaults_are_the_seed_workflows() -> None:
    args = _parser().parse_args(["publish", "--tag", "v1.0.0"])
    assert args.sign is None and args.scan_fail_on is None  # not given: the settings file, else the defaults decide
    defaults = ReleaseSettings()
    assert defaults.sign == "auto" and defaults.scan_fail_on == "CRITICAL,HIGH"
    assert not (defaults.no_sbom or defaults.no_provenance or defaults.no_scan)
    assert sbom_formats_from_args(list(defaults.sbom), off=defaults.no_sbom) == (SbomFormat.SPDX_JSON,)


@pytest.mark.parametrize(
    ("mode", "has_key", "resolved"),
    [
        (SigningMode.AUTO, True, SigningMode.KEY),
        (SigningMode.AUTO, False, SigningMode.NONE),
        (SigningMode.NONE, True, SigningMode.NONE),
        (SigningMode.KEY, False, SigningMode.KEY),
        (SigningMode.KEYLESS, False, SigningMode.KEYLESS),
    ],
)
def test_auto_signs_with_the_key_when_one_is_given(mode: SigningMode, has_key: bool, resolved: SigningMode) -> None:
    assert mode.resolve(has_key=has_key) is resolved


def test_each_step_is_switched_off_with_its_no_flag() -> None:
    assert sbom_formats_from_args(None, off=True) == ()
    assert sbom_formats_from_args([SbomFormat.CYCLONEDX_JSON], off=False) == (SbomFormat.CYCLONEDX_JSON,)
    assert scan_policy_from_args("CRITICAL,HIGH", off=True) is None
    assert scan_policy_from_args("") is None  # an empty --scan-fail-on, as before
    policy = scan_policy_from_args("CRITICAL,HIGH", ["CVE-2099-0001"])
    assert policy is not None and policy.fail_on == (Severity.CRITICAL, Severity.HIGH) and policy.ignore == ("CVE-2099-0001",)


def test_a_no_flag_with_its_step_asked_for_is_refused() -> None:
    with pytest.raises(InvalidInput, match="--no-sbom"):
        sbom_formats_from_args([SbomFormat.SPDX_JSON], off=True)
    with pytest.raises(InvalidInput, match="--no-provenance"):
        provenance_from_args(True, off=True)
    assert provenance_from_args(False, off=False) and not provenance_from_args(False, off=True)


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--provenance", "--no-provenance"], "--no-provenance"),
        (["--sbom", "spdx-json", "--no-sbom"], "--no-sbom"),
        (["--smoke-path", "/health"], "--smoke-path"),
        (["--smoke-port", "0"], "--smoke-port"),
        (["--scan-fail-on", "SEVERE"], "--scan-fail-on"),
    ],
)
def test_contradicting_or_incomplete_flags_fail_before_the_engine_starts(
    flags: list[str], named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST", raising=False)  # no engine: any attempt to start one would fail differently
    assert main(["publish", "--tag", "v1.0.0", *flags]) == 2
    assert named in capsys.readouterr().err
