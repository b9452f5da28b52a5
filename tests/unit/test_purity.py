"""The planning package stays pure: no dagger, no I/O modules, no clock."""

from __future__ import annotations

import ast
from pathlib import Path

import shipyard.plan

FORBIDDEN_MODULES = {"dagger", "os", "subprocess", "socket", "pathlib", "shutil", "io", "httpx", "urllib", "time", "anyio", "tempfile"}
FORBIDDEN_CALLS = {"open", "print", "input"}


def test_plan_package_imports_nothing_impure() -> None:
    package = Path(shipyard.plan.__file__).parent
    offences: list[str] = []
    for path in sorted(package.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
                offences.append(f"{path.name}:{node.lineno} calls {node.func.id}()")
                continue
            elif isinstance(node, ast.Attribute) and node.attr in {"now", "utcnow", "today"}:
                offences.append(f"{path.name}:{node.lineno} reads the clock (.{node.attr})")
                continue
            else:
                continue
            offences += [f"{path.name}:{node.lineno} imports {n}" for n in names if n.split(".")[0] in FORBIDDEN_MODULES]
    assert offences == []
