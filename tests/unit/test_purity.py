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


# --- layering: arrows only run downwards (STYLE.md, "The shape of the tree") -----------------

SRC = Path(shipyard.plan.__file__).parent.parent


def _imports(path: Path) -> set[str]:
    """Every ``shipyard.*`` module a file imports (absolute imports; the tree uses no relative ones)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("shipyard")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("shipyard"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names if (SRC / node.module.replace("shipyard.", "", 1)).is_dir()}
    return found


def layering_offences(src: Path) -> list[str]:
    """Imports that run against the layers: registries/ -> steps/, a step -> another step (tools
    excepted), plan/ -> anything outside plan/."""
    offences: list[str] = []
    for path in sorted(src.rglob("*.py")):
        layer = path.parent.name
        module = f"shipyard.{layer}.{path.stem}" if layer != src.name else f"shipyard.{path.stem}"
        for imported in sorted(_imports(path)):
            if layer == "registries" and imported.startswith("shipyard.steps"):
                offences.append(f"{module} imports {imported} (registries/ never imports steps/)")
            if layer == "steps" and imported.startswith("shipyard.steps.") and imported not in (module, "shipyard.steps.tools"):
                offences.append(f"{module} imports {imported} (steps never import each other; share through steps/tools.py)")
            if layer == "plan" and not imported.startswith("shipyard.plan"):
                offences.append(f"{module} imports {imported} (plan/ imports nothing outside plan/)")
    return offences


def test_layers_only_import_downwards() -> None:
    assert layering_offences(SRC) == []


def test_the_layering_check_catches_each_kind_of_offence(tmp_path: Path) -> None:
    for layer, line in {
        "registries": "from shipyard.steps.build import BuildSpec",
        "steps": "from shipyard.steps.sign import sign_and_attest",
        "plan": "from shipyard.secrets import Credentials",
    }.items():
        (tmp_path / layer).mkdir()
        (tmp_path / layer / "bad.py").write_text(line + "\n")
    (tmp_path / "steps" / "fine.py").write_text("from shipyard.steps.tools import tool_container\n")
    offences = layering_offences(tmp_path)
    assert len(offences) == 3, offences
    assert any("registries.bad imports shipyard.steps.build" in o for o in offences)
    assert any("steps.bad imports shipyard.steps.sign" in o for o in offences)
    assert any("plan.bad imports shipyard.secrets" in o for o in offences)
