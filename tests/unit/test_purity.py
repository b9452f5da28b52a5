"""The pure packages (values, tagging, release, supply_chain, gates, retention, reports, errors)
stay pure: no dagger, no I/O modules, no clock; and every layer imports only downwards."""

from __future__ import annotations

import ast
from pathlib import Path

import shipyard

FORBIDDEN_MODULES = {"dagger", "os", "subprocess", "socket", "pathlib", "shutil", "io", "httpx", "urllib", "time", "anyio", "tempfile"}
FORBIDDEN_CALLS = {"open", "print", "input"}


SRC = Path(shipyard.__file__).parent
PURE = ("values", "tagging", "release", "supply_chain", "gates", "retention", "reports", "errors")


def _pure_files(src: Path) -> list[Path]:
    return sorted(p for name in PURE for p in [*(src / name).glob("*.py"), src / f"{name}.py"] if p.is_file())


def test_the_pure_packages_import_nothing_impure() -> None:
    offences: list[str] = []
    assert len(_pure_files(SRC)) > 30
    for path in _pure_files(SRC):
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


# What steps share: tool containers, the release context, and the engine helpers of more than one
# step or command (OCI layouts in the engine; building platform images: `build` and build+assemble).
SHARED_BY_STEPS = (
    "shipyard.steps.tools",
    "shipyard.steps.context",
    "shipyard.steps.layouts",
    "shipyard.steps.build",
    "shipyard.steps.base",
)


def layering_offences(src: Path) -> list[str]:
    """Imports that run against the layers: registries/ -> steps/, a step -> another step (shared
    modules excepted), a pure package -> anything but the pure packages."""
    offences: list[str] = []
    for path in sorted(src.rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        layer = parts[0] if len(parts) > 1 else path.stem
        module = "shipyard." + ".".join(parts)
        for imported in sorted(_imports(path)):
            if layer == "registries" and imported.startswith("shipyard.steps"):
                offences.append(f"{module} imports {imported} (registries/ never imports steps/)")
            if (
                layer == "steps"
                and module != "shipyard.steps.context"  # the context names the steps' result types (for type checking only)
                and imported.startswith("shipyard.steps.")
                and imported not in (module, *SHARED_BY_STEPS)
            ):
                offences.append(f"{module} imports {imported} (steps never import each other; share through steps/tools.py or the context)")
            if layer in PURE and imported.split(".")[1:2] != [] and imported.split(".")[1] not in PURE:
                offences.append(f"{module} imports {imported} (the pure packages import only each other)")
    return offences


def test_layers_only_import_downwards() -> None:
    assert layering_offences(SRC) == []


def test_the_layering_check_catches_each_kind_of_offence(tmp_path: Path) -> None:
    for layer, line in {
        "registries": "from shipyard.steps.build import BuildSpec",
        "steps": "from shipyard.steps.sign import sign_and_attest",
        "release": "from shipyard.secrets import Credentials",
    }.items():
        (tmp_path / layer).mkdir()
        (tmp_path / layer / "bad.py").write_text(line + "\n")
    (tmp_path / "steps" / "fine.py").write_text("from shipyard.steps.tools import tool_container\n")
    offences = layering_offences(tmp_path)
    assert len(offences) == 3, offences
    assert any("registries.bad imports shipyard.steps.build" in o for o in offences)
    assert any("steps.bad imports shipyard.steps.sign" in o for o in offences)
    assert any("release.bad imports shipyard.secrets" in o for o in offences)
