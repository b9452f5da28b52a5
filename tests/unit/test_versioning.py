"""Shipyard is referable by version: one number in the package, pyproject, the changelog and both doors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from shipyard import __version__
from shipyard.main import Shipyard

ROOT = Path(__file__).resolve().parents[2]


def test_the_version_is_one_number_everywhere() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == __version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    first = re.search(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert first and first.group(1) == __version__, "CHANGELOG.md's newest entry is not the package's version"


def test_both_doors_report_the_version() -> None:
    out = subprocess.run([sys.executable, "-m", "shipyard", "--version"], capture_output=True, text=True, check=True).stdout
    engine = json.loads((ROOT / "dagger.json").read_text())["engineVersion"]  # the pin, read independently
    assert out.strip() == f"shipyard {__version__} (Dagger engine {engine})"
    assert Shipyard().version() == __version__


def test_the_license_is_apache_2() -> None:
    assert "Apache License\n                           Version 2.0" in (ROOT / "LICENSE").read_text()
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == {"text": "Apache-2.0"}
