"""Writes ``schema/shipyard.schema.json``, the JSON Schema of ``shipyard.toml`` generated from the
settings model (``python -m shipyard.schema``); tests/unit/test_settings.py holds it current."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from shipyard.release.settings import settings_schema

SCHEMA_PATH = Path("schema/shipyard.schema.json")


def schema_text() -> str:
    return json.dumps(settings_schema(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(schema_text())
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
