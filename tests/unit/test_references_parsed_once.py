"""Image references, registries and digests are parsed in one place, the value types
(src/shipyard/values/): a step that re-splits a reference string (``split("/", 1)[0]`` for the
registry, ``rpartition(":")`` for a port or tag, ``"@" in`` for a digest) decides again what
the value already knows, and can decide it differently. This test greps src/ for those patterns
outside values/ and names each file:line."""

from __future__ import annotations

import re
from pathlib import Path

import shipyard

SRC = Path(shipyard.__file__).parent
RE_PARSING = re.compile(
    r"""\.r?split\(\s*["'][/@:]["']"""  # .split("/", 1)  .rsplit(":", 1)  .split("@")
    r"""|\.r?partition\(\s*["'][/@:]["']\s*\)"""  # .partition("@")  .rpartition(":")
    r"""|["']@(?:sha256:)?["']\s+in\b"""  # "@" in ref, "@sha256:" in ref
)
# Splits of strings that are no image reference, registry or digest: each file with what it splits.
NOT_REFERENCES = {
    "secrets.py": "a secret source, env:NAME or file:PATH",
    "auth.py": "--registry-auth's REGISTRY=USER:SOURCE",
    "engines.py": "an engine address, tcp://HOST:PORT",
    "registries/http.py": "a token scope, repository:NAME:ACTIONS",
    "gates/compose.py": "a compose port mapping, HOST:PORT:CONTAINER/PROTOCOL",
    "source.py": "a Git remote's host",
    "release/config.py": "a relative file path's components",
    "release/plan.py": "a Git ref, refs/tags/NAME",
    "reports/notes.py": "an SBOM file's path",
}


def re_parsing(src: Path) -> list[str]:
    """``file:line: code`` for each line outside values/ that splits a reference by hand."""
    found = []
    for path in sorted(src.rglob("*.py")):
        name = path.relative_to(src).as_posix()
        if name.startswith("values/") or name in NOT_REFERENCES:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if RE_PARSING.search(line):
                found.append(f"{name}:{number}: {line.strip()}")
    return found


def test_the_patterns_find_what_the_steps_used_to_do() -> None:
    for line in [
        'access.insecure([reference.split("/", 1)[0]])',
        'port = registry.rsplit(":", 1)[1] if ":" in registry else "80"',
        'if "@sha256:" in ref:',
        'rest, at, digest = raw.partition("@")',
        'int(name.rpartition(":")[2])',
    ]:
        assert RE_PARSING.search(line), line
    assert not RE_PARSING.search("parse_reference(reference).registry")


def test_no_reference_is_re_parsed_outside_the_value_types() -> None:
    found = re_parsing(SRC)
    assert found == [], "parse it once with shipyard.values.refs (parse_reference, Registry, Digest) and pass the value"
