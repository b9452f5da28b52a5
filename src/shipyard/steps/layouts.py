"""The layouts of ``publish --from``: read what ``build`` wrote, and check every blob's bytes.

A layout came from another runner through a CI artifact store: before any of it is assembled
or pushed, each blob must hash to its name, and every blob the platform manifests name must be
there. A platform image is handed to the engine (the smoke test runs it) as an OCI tarball.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagger

from shipyard.errors import InvalidInput, ShipyardError
from shipyard.oci_layout import INDEX, MARKER, OciLayout, sha256_of
from shipyard.release.image import OCI_MANIFEST, Descriptor, canonical_json, platform_layout_index
from shipyard.release.layouts import RECORD_FILE, BuildRecord, parse_build_record
from shipyard.values.platforms import Platform, parse_platform

_FIX = "the layout is damaged: download the artifact again or run its `shipyard build` again; nothing was pushed."


class LayoutCorrupted(ShipyardError):
    """A layout's blob is missing or its bytes do not match its digest; nothing was pushed."""

    exit_code = 2

    def __init__(self, layout: str, blob: str, problem: str) -> None:
        self.layout = layout
        self.blob = blob
        super().__init__(f"--from {layout!r}: blob {blob} {problem}; {_FIX}")


@dataclass(frozen=True)
class LoadedLayout:
    """One ``--from`` directory: its name as given, where it is on this machine, its record."""

    name: str
    root: Path
    record: BuildRecord

    def images(self) -> dict[Platform, str]:
        """Platform -> its manifest's digest in this layout."""
        return {parse_platform(i.platform): i.digest for i in self.record.images}


def read_layout(name: str, root: Path) -> LoadedLayout:
    """The record of the layout at ``root`` (``name`` as the user gave it), checked to describe
    the layout's own ``index.json``."""
    record_path = root / RECORD_FILE
    if not record_path.is_file():
        raise InvalidInput(
            "--from", name, f"has no {RECORD_FILE}", "Pass a directory written by `shipyard build` (or `dagger call build … -o DIR`)."
        )
    record = parse_build_record(record_path.read_text(errors="replace"), name)
    try:
        index = OciLayout(root).read_index()
        listed = {(m["digest"], json.dumps(m.get("platform", {}), sort_keys=True)) for m in index["manifests"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(
            "--from", name, f"has no readable OCI index.json ({exc})", "Pass a directory written by `shipyard build`."
        ) from None
    for image in record.images:
        platform = parse_platform(image.platform)
        entry = Descriptor(OCI_MANIFEST, image.digest, 0, platform=platform).to_dict()["platform"]
        if (image.digest, json.dumps(entry, sort_keys=True)) not in listed:
            raise InvalidInput(
                "--from",
                name,
                f"{RECORD_FILE} names {image.platform} {image.digest}, which its index.json does not list",
                "Pass the directory exactly as `shipyard build` wrote it.",
            )
    return LoadedLayout(name=name, root=root, record=record)


def verify_layout(layout: LoadedLayout) -> int:
    """Hash every blob of the layout against its name, and check that every blob its platform
    manifests name is there (with the size they give). Returns the number of blobs checked."""
    checked = 0
    for named, path in OciLayout(layout.root).blobs():
        actual = sha256_of(path)
        if actual != named:
            raise LayoutCorrupted(layout.name, str(named), f"does not match its digest (its bytes hash to {actual})")
        checked += 1
    for digest in layout.images().values():
        manifest = _json_blob(layout, digest)
        for entry in [manifest.get("config", {}), *manifest.get("layers", [])]:
            found = _blob(layout.root, entry.get("digest", ""))
            if found is None or not found.is_file():
                raise LayoutCorrupted(layout.name, str(entry.get("digest")), f"named by the manifest {digest} is missing")
            if found.stat().st_size != int(entry.get("size", -1)):
                raise LayoutCorrupted(
                    layout.name, entry["digest"], f"has {found.stat().st_size} bytes, its manifest says {entry.get('size')}"
                )
    return checked


def _json_blob(layout: LoadedLayout, digest: str) -> dict[str, Any]:
    path = _blob(layout.root, digest)
    if path is None or not path.is_file():
        raise LayoutCorrupted(layout.name, digest, "(a platform manifest) is missing")
    try:
        data: dict[str, Any] = json.loads(path.read_bytes())
    except ValueError:
        raise LayoutCorrupted(layout.name, digest, "(a platform manifest) is not JSON") from None
    return data


def _blob(root: Path, digest: str) -> Path | None:
    """Where the blob ``digest`` names is, or ``None`` for a name that is no digest."""
    try:
        return OciLayout(root).blob_path(digest)
    except InvalidInput:
        return None


def platform_tarball(layout: Path, manifest: Descriptor, dest: Path) -> Path:
    """One platform image of an OCI layout as an OCI tarball (for ``Container.import_``)."""
    source = OciLayout(layout)
    body = source.read_json(manifest.digest)
    digests = [manifest.digest, body["config"]["digest"], *(layer["digest"] for layer in body["layers"])]
    index = canonical_json({"schemaVersion": 2, "manifests": [manifest.to_dict()]})
    with tarfile.open(dest, "w") as tar:
        for name, data in (("oci-layout", MARKER), (INDEX, index)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for digest in dict.fromkeys(digests):
            tar.add(source.blob_path(digest), arcname=source.blob_name(digest))
    return dest


def platform_layouts(root: dagger.Directory, manifests: Mapping[Platform, Descriptor]) -> dict[Platform, dagger.Directory]:
    """Each platform of an assembled release (``root``: its OCI layout in the engine) as a
    one-image layout: the same blobs under an ``index.json`` naming that platform's manifest."""
    return {p: root.with_new_file(INDEX, platform_layout_index(d, p).decode()) for p, d in manifests.items()}
