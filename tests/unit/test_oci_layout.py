"""One OCI layout type (src/shipyard/oci_layout.py) knows where a blob lives; nothing else in
src/ builds a blob path by hand."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

import shipyard
from shipyard.errors import InvalidInput
from shipyard.oci_layout import MARKER, OciLayout
from shipyard.values.refs import Digest

SRC = Path(shipyard.__file__).parent
_BLOB_PATH = re.compile(r"""["']blobs["']\s*/|/\s*["']blobs["']|blobs/sha256|["']blobs/\{""")


def test_a_blob_lives_under_its_algorithm_and_hex_and_is_written_once(tmp_path: Path) -> None:
    layout = OciLayout(tmp_path / "layout")
    digest, new = layout.write_blob(b"hello")
    assert str(digest) == "sha256:" + hashlib.sha256(b"hello").hexdigest() and new
    assert layout.blob_path(digest) == tmp_path / "layout" / "blobs" / "sha256" / digest.hex
    assert layout.write_blob(b"hello") == (digest, False)
    assert layout.read_blob(str(digest)) == b"hello" and [d for d, _ in layout.blobs()] == [digest]
    layout.write_index(b'{"schemaVersion":2,"manifests":[]}')
    assert (tmp_path / "layout" / "oci-layout").read_bytes() == MARKER and layout.read_index()["manifests"] == []


def test_a_copied_blob_is_hashed_unless_its_digest_is_given(tmp_path: Path) -> None:
    source = tmp_path / "layer"
    source.write_bytes(b"layer")
    layout = OciLayout(tmp_path / "layout")
    digest, _ = layout.copy_blob(source)
    assert digest == Digest("sha256", hashlib.sha256(b"layer").hexdigest()) and layout.read_blob(digest) == b"layer"


@pytest.mark.parametrize("bad", ["sha256:../../etc/passwd", "md5:abc", "sha256:" + "A" * 64, "nothing"])
def test_a_name_that_is_no_digest_never_becomes_a_path(bad: str) -> None:
    with pytest.raises(InvalidInput):
        OciLayout.blob_name(bad)


def test_no_module_but_the_layout_type_builds_a_blob_path() -> None:
    offences = [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "oci_layout.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if _BLOB_PATH.search(line)
    ]
    assert offences == [], "ask shipyard.oci_layout.OciLayout where a blob is"
