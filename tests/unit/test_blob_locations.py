"""Where this machine pushed blobs (registries/blob_locations.py): a hint for cross-repository mounts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipyard.registries import blob_locations
from shipyard.registries.blob_locations import BlobLocations

A = "ghcr.io"
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def test_the_last_repository_that_received_a_blob_is_the_source_for_another(tmp_path: Path) -> None:
    path = tmp_path / "locations.json"
    first = BlobLocations(path)
    assert first.source(A, D1, "acme/new") is None
    first.record(A, "acme/api", [D1, D2])
    first.record(A, "acme/web", [D1])
    first.save()
    again = BlobLocations(path)
    assert again.source(A, D1, "acme/new") == "acme/web"  # newest first
    assert again.source(A, D1, "acme/web") == "acme/api"  # never the repository being pushed to
    assert again.source("docker.io", D1, "acme/new") is None  # per registry


def test_releases_at_once_merge_their_records_and_the_record_stays_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "locations.json"
    one, two = BlobLocations(path), BlobLocations(path)
    one.record(A, "acme/one", [D1])
    two.record(A, "acme/two", [D2])
    one.save()
    two.save()  # read what ``one`` wrote, merged its own
    merged = BlobLocations(path)
    assert merged.source(A, D1, "x") == "acme/one" and merged.source(A, D2, "x") == "acme/two"
    monkeypatch.setattr(blob_locations, "BLOBS_PER_REGISTRY", 2)
    many = BlobLocations(path)
    many.record(A, "acme/three", ["sha256:" + "3" * 64])
    many.save()
    kept = json.loads(path.read_text())[A]
    assert list(kept) == [D2, "sha256:" + "3" * 64]  # the oldest digest went


def test_an_unreadable_record_is_no_record_and_no_error(tmp_path: Path) -> None:
    path = tmp_path / "locations.json"
    path.write_text("{not json")
    locations = BlobLocations(path)
    assert locations.source(A, D1, "acme/new") is None
    locations.record(A, "acme/api", [D1])
    locations.save()
    assert BlobLocations(path).source(A, D1, "acme/new") == "acme/api"
    BlobLocations(None).save()  # no place to keep it: nothing written, no error
