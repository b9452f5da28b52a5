"""The Dagger SDK's private names Shipyard uses (src/shipyard/sdk.py) are where the adapter looks
for them: an SDK upgrade that moves one fails here, naming the SDK and engine versions, instead
of failing a release."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import json
from pathlib import Path

import shipyard
from shipyard import sdk

ROOT = Path(__file__).resolve().parents[2]
SRC = Path(shipyard.__file__).parent


def _versions() -> str:
    engine = json.loads((ROOT / "dagger.json").read_text()).get("engineVersion", "?")
    return f"dagger-io {importlib.metadata.version('dagger-io')} installed, engine {engine} pinned in dagger.json"


def test_every_private_name_the_adapter_uses_is_where_it_looks() -> None:
    moved = []
    for entry in sdk.PRIVATE_NAMES:
        module, _, attribute = entry.partition(":")
        try:
            found = hasattr(importlib.import_module(module), attribute)
        except ImportError:
            found = False
        if not found:
            moved.append(entry)
    assert moved == [], f"the Dagger SDK moved {', '.join(moved)} ({_versions()}): update src/shipyard/sdk.py"


def test_the_adapter_hands_out_working_names() -> None:
    classes = sdk.session_classes()
    params = classes.connect_params(port=1234, session_token="t")
    assert (params.port, params.session_token) == (1234, "t"), _versions()
    assert issubclass(sdk.FunctionError, Exception), _versions()
    assert sdk.cli_version() == importlib.metadata.version("dagger-io"), _versions()


def test_the_adapter_lists_every_private_name_it_imports() -> None:
    imported = set()
    for node in ast.walk(ast.parse((SRC / "sdk.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dagger"):
            imported |= {f"{node.module}:{a.name}" for a in node.names}
    assert imported == set(sdk.PRIVATE_NAMES)


def test_no_module_but_the_adapter_imports_a_private_sdk_name() -> None:
    offences = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "sdk.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            for module in modules:
                if module.split(".")[0] == "dagger" and any(part.startswith("_") for part in module.split(".")):
                    offences.append(f"{path.relative_to(SRC)}:{getattr(node, 'lineno', 0)} imports {module}")
    assert offences == [], "import the SDK's private names through shipyard/sdk.py"
