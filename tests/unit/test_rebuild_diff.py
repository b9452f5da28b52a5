"""rebuild-check's explanation: which config fields and which files differ, and how it reads."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile

from shipyard.release.rebuild import (
    FileEntry,
    LayerPair,
    diff_config,
    diff_files,
    difference_lines,
    differing_layers,
    flatten,
    platform_difference,
)
from shipyard.steps.explain import layer_entries


def entry(path: str, **changes: object) -> FileEntry:
    values: dict[str, object] = {"path": path, "kind": "file", "size": 29, "mode": 0o644, "uid": 0, "gid": 0, "mtime": 1700000000.0}
    values["sha256"] = "a" * 64
    values.update(changes)
    return FileEntry(**values)  # type: ignore[arg-type]


def test_files_are_compared_by_path_and_each_differing_field_is_named() -> None:
    published = [entry("/built-at"), entry("/etc/app/machine"), entry("/gone")]
    rebuilt = [entry("/built-at", sha256="b" * 64, mtime=1700000001.0), entry("/etc/app/machine"), entry("/new", kind="dir", size=0)]
    diffs = diff_files(published, rebuilt)
    assert [(d["path"], d["change"]) for d in diffs] == [("/built-at", "changed"), ("/gone", "removed"), ("/new", "added")]
    assert diffs[0]["fields"] == {"mtime": [1700000000.0, 1700000001.0], "sha256": ["a" * 64, "b" * 64]}


def test_mode_and_size_differences_are_named() -> None:
    (d,) = diff_files([entry("/x")], [entry("/x", mode=0o755, size=30)])
    assert d["fields"] == {"size": [29, 30], "mode": ["0o644", "0o755"]}


def test_identical_layers_have_no_file_differences() -> None:
    assert diff_files([entry("/a"), entry("/b")], [entry("/b"), entry("/a")]) == []


def test_configs_are_compared_field_by_field() -> None:
    a = {"config": {"Env": ["PATH=/bin", "A=1"]}, "history": [{"created_by": "RUN x"}], "rootfs": {"diff_ids": ["sha256:1"]}}
    b = {
        "config": {"Env": ["PATH=/bin", "A=2"]},
        "history": [{"created_by": "RUN x"}, {"created_by": "RUN y"}],
        "rootfs": {"diff_ids": ["sha256:1"]},
    }
    assert diff_config(a, b) == [
        {"field": "config.Env[1]", "published": "A=1", "rebuilt": "A=2"},
        {"field": "history[1].created_by", "published": None, "rebuilt": "RUN y"},
    ]
    assert flatten({"a": {}, "b": []}) == {"a": {}, "b": []}


def test_only_layers_whose_diff_id_differs_are_read() -> None:
    assert differing_layers(["1", "2", "3"], ["1", "x", "3", "4"]) == [1, 3]
    assert differing_layers(["1"], ["1"]) == []


def test_the_text_names_the_file_and_the_platform() -> None:
    diffs = diff_files([entry("/built-at")], [entry("/built-at", sha256="b" * 64)])
    difference = platform_difference("linux/arm/v7", [], [LayerPair(2, "sha256:" + "1" * 64, "sha256:" + "2" * 64, tuple(diffs))])
    lines = difference_lines(difference)
    assert lines[0] == "  linux/arm/v7: why it differs"
    assert lines[1] == "    layer 2: published sha256:111111111111, rebuilt sha256:222222222222"
    assert lines[2] == "      linux/arm/v7 /built-at: content aaaaaaaaaaaa -> bbbbbbbbbbbb"


def test_a_config_only_difference_is_shown_without_the_diff_ids() -> None:
    config = diff_config({"created": "a", "rootfs": {"diff_ids": ["x"]}}, {"created": "b", "rootfs": {"diff_ids": ["y"]}})
    lines = difference_lines(platform_difference("linux/amd64", config, []))
    assert lines[1:] == ["    config created: published a, rebuilt b"]


def _layer(files: dict[str, bytes], mtime: int) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), mtime, 0o600
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def test_layer_entries_read_each_file_with_its_content_hash() -> None:
    (e,) = layer_entries(_layer({"./built-at": b"Fri Dec  4\n"}, 1700000000))
    assert (e.path, e.kind, e.size, e.mode, e.mtime) == ("/built-at", "file", 11, 0o600, 1700000000.0)
    assert e.sha256 == hashlib.sha256(b"Fri Dec  4\n").hexdigest()
    (dot,) = layer_entries(_layer({".profile": b"x"}, 0))
    assert dot.path == "/.profile"
