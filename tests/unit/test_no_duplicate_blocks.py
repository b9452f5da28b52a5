"""No block of six or more lines stands twice in src/: a change made to one copy would be missed
in the other. Import lists, blank lines and comment-only lines do not count; whitespace is
normalised, so a copy re-indented into another function is still found."""

from __future__ import annotations

import re
import tempfile
from collections import defaultdict
from pathlib import Path

import shipyard

SRC = Path(shipyard.__file__).parent
BLOCK = 6
_TRIVIAL = re.compile(r"^(?:[)\]}],?|\"\"\"|else:|try:|finally:|return|pass|continue|break|\.\.\.)$")


def _lines(path: Path) -> list[tuple[int, str]]:
    """The lines that count, normalised, with their line numbers: no blank or comment-only
    lines, no import statements (nor the names inside a parenthesised import), no lone
    brackets or keywords, and no docstring-only text."""
    out: list[tuple[int, str]] = []
    in_import = False
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = " ".join(raw.split())
        if in_import:
            in_import = not line.startswith(")")
            continue
        if not line or line.startswith("#"):
            continue
        if re.match(r"^(?:from \S+ )?import ", line):
            in_import = line.endswith("(")
            continue
        if _TRIVIAL.match(line):
            continue
        out.append((number, line))
    return out


def duplicate_blocks(src: Path, size: int = BLOCK) -> list[str]:
    """Each run of ``size`` or more counted lines that stands more than once, once, as
    ``file:line = file:line … (its first line)``."""
    files = {str(path.relative_to(src)): _lines(path) for path in sorted(src.rglob("*.py"))}
    seen: dict[tuple[str, ...], list[tuple[str, int]]] = defaultdict(list)
    for name, lines in files.items():
        for start in range(len(lines) - size + 1):
            seen[tuple(text for _, text in lines[start : start + size])].append((name, start))
    duplicated = {place for places in seen.values() if len(places) > 1 for place in places}
    found = []
    for window, places in seen.items():
        name, start = places[0]
        if len(places) > 1 and (name, start - 1) not in duplicated:  # the first window of a longer copy
            found.append((" = ".join(f"{n}:{files[n][s][0]}" for n, s in places), " = ".join(n for n, _ in places), window[0]))
    return [f"{shown}  ({first[:70]} …)" for shown, _, first in found]


def test_duplicate_blocks_are_found() -> None:
    text = "def f(x):\n" + "".join(f"    y{i} = x + {i}\n" for i in range(BLOCK + 2)) + "    return y0\n"
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "a.py").write_text("import os\n" + text)
        (root / "b.py").write_text("# another\n" + text.replace("    ", "\t"))
        assert [d.split("  (")[0] for d in duplicate_blocks(root)] == ["a.py:2 = b.py:2"]
        (root / "b.py").write_text("import os\nimport sys\n")
        assert duplicate_blocks(root) == []


def test_no_block_of_six_lines_stands_twice_in_src() -> None:
    found = duplicate_blocks(SRC)
    assert found == [], "make one of each copy (a function, a constant, a model)"
