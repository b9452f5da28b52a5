"""Export the built platform images and assemble the release: one normalised OCI layout.

Each platform image leaves the engine as an OCI tarball. Base-image layers are kept byte for
byte (registries deduplicate them); every layer the build wrote gets all its times set to
``SOURCE_DATE_EPOCH`` and is re-compressed deterministically, as ko and rules_oci do: its bytes
then depend on the release only, not on when the engine (or an imported build cache) happened to
build that step. Which layers the build wrote is read from the image's history (see
:func:`built_by_the_build`). The configs, manifests and the index come from ``release/image.py``.
The result is an OCI layout on local disk whose ``index.json`` names the release index.

The release's ``build+assemble`` step (:func:`run`): build every platform (the default engine's
own, and each ``--builder``'s in a session of its own), read the base image's layers meanwhile,
then assemble; or, for ``publish --from``, assemble from the layouts built before.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import threading
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, NotRequired, TypedDict, Unpack, cast

import anyio
import dagger
from dagger import dag

from shipyard.engines import engine_session
from shipyard.errors import ShipyardError, shipyard_error_in
from shipyard.oci_layout import OciLayout, sha256_of
from shipyard.release.builders import Builder, default_platforms
from shipyard.release.image import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    AssembledRelease,
    Descriptor,
    canonical_json,
    image_index,
    image_manifest,
    normalise_config,
    oci_media_type,
)
from shipyard.steps.base import base_layers
from shipyard.steps.build import BuildFailed, build_platforms
from shipyard.steps.context import ReleaseContext
from shipyard.steps.layouts import platform_tarball
from shipyard.values.platforms import Platform, parse_platforms
from shipyard.values.refs import Digest

_CHUNK = 1 << 20


class BuilderFailed(ShipyardError):
    """A builder engine failed (unreachable, or gone mid-build); nothing was pushed."""

    exit_code = 3

    def __init__(self, builder: Builder, detail: str) -> None:
        self.builder = builder
        super().__init__(f"builder {builder.address} ({', '.join(map(str, builder.platforms))}) failed: {detail}")


async def run(ctx: ReleaseContext) -> None:
    """The ``build+assemble`` step: the release as one OCI layout in the workdir (and ``oci/`` in the output directory)."""
    job, made = ctx.job, ctx.artifacts
    if job.layouts:
        await _assemble_from_layouts(ctx)
        return
    platforms = parse_platforms(job.plan.platforms)
    builders = job.split.builders if job.split is not None else ()
    here = default_platforms(platforms, builders)
    exports: dict[Platform, Path] = {}

    async def build_here() -> None:
        containers = await build_platforms(job.source, job.build, here, job.progress_log)
        made.containers.update(containers)
        exports.update(await export_platform_images(containers, job.workdir))

    base: dict[Platform, tuple[str, ...]] = {}

    async def read_base_layers() -> None:
        spec = job.build
        base.update(await base_layers(job.source, spec.dockerfile_text, spec.target, spec.build_args, platforms, job.workdir))

    async with anyio.create_task_group() as group:
        if here:
            group.start_soon(build_here)
        for builder in builders:
            group.start_soon(_build_on, ctx, builder, exports)
        group.start_soon(read_base_layers)
    for platform in platforms:  # built elsewhere: loaded into the default engine too (the smoke test runs one)
        if platform not in made.containers:
            tarball = dag.host().file(str(exports[platform]))
            made.containers[platform] = dag.container(platform=dagger.Platform(str(platform))).import_(tarball)
    ordered = {p: exports[p] for p in platforms}  # the index lists platforms in the release's order
    layout = job.workdir / "layout"
    made.release = await anyio.to_thread.run_sync(
        lambda: assemble_release(
            ordered,
            epoch=job.plan.source_date_epoch,
            annotations=job.plan.annotations,
            layout=layout,
            base_layers=base,
            layer_cache=default_layer_cache(),
        )
    )
    await anyio.to_thread.run_sync(ctx.output.copy_tree, layout, "oci")


async def _assemble_from_layouts(ctx: ReleaseContext) -> None:
    """``publish --from``: the release from the layouts' platform images (checked before the
    release started), each platform manifest stamped with the release's annotations."""
    job, made = ctx.job, ctx.artifacts
    platforms = parse_platforms(job.plan.platforms)
    where = {p: (layout.root, digest) for layout in job.layouts for p, digest in layout.images().items()}
    layout = job.workdir / "layout"
    made.release = await anyio.to_thread.run_sync(
        lambda: assemble_from_layouts({p: where[p] for p in platforms}, annotations=job.plan.annotations, layout=layout)
    )
    if job.plan.smoke is not None:  # the smoke test runs each platform's image in this engine
        for platform, manifest in made.release.manifests.items():
            tarball = job.workdir / f"from-{str(platform).replace('/', '-')}.tar"
            await anyio.to_thread.run_sync(platform_tarball, layout, manifest, tarball)
            file = job.local_file(tarball) if job.local_file is not None else dag.host().file(str(tarball))
            made.containers[platform] = dag.container(platform=dagger.Platform(str(platform))).import_(file)
    await anyio.to_thread.run_sync(ctx.output.copy_tree, layout, "oci")


async def _build_on(ctx: ReleaseContext, builder: Builder, exports: dict[Platform, Path]) -> None:
    """Build ``builder``'s platforms in a session of its own and export them to the workdir."""
    split = ctx.job.split
    assert split is not None
    log_path = split.log_dir / f"builder-{'+'.join(str(p).replace('/', '-') for p in builder.platforms)}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with log_path.open("w") as log:
            environment = split.environment(builder)
            async with engine_session(builder.address, log, log_path=log_path, environment=environment) as client:
                ctx.artifacts.builder_versions[builder.address] = await client.version()
                source, spec = split.inputs(client)
                containers = await build_platforms(source, spec, builder.platforms, log_path, where=f"builder {builder.address}")
                exports.update(await export_platform_images(containers, ctx.job.workdir))
    except Exception as exc:  # the build's own failure, or the engine's (possibly in an exception group)
        error = shipyard_error_in(exc)
        if isinstance(error, BuildFailed):
            raise error from None
        detail = str(error) if error is not None else f"the session with its engine broke ({_innermost(exc)})"
        where = f" (its log: {log_path})" if log_path.exists() and log_path.stat().st_size else ""
        raise BuilderFailed(builder, f"{detail}; nothing was pushed{where}") from None


def _innermost(exc: BaseException) -> str:
    """The root error of a failed engine call, short: through exception groups, retries and causes."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
        elif hasattr(exc, "last_attempt") and exc.last_attempt.exception() is not None:  # tenacity's RetryError
            exc = exc.last_attempt.exception()
        elif exc.__cause__ is not None:
            exc = exc.__cause__
        else:
            break
    text = " ".join(str(exc).split()).split(" For more information check:", 1)[0]  # httpx's link to MDN
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


async def export_platform_images(containers: Mapping[Platform, dagger.Container], workdir: Path) -> dict[Platform, Path]:
    """Export each platform image from the engine as an OCI tarball under ``workdir``, concurrently."""
    paths = {p: workdir / f"export-{str(p).replace('/', '-')}.tar" for p in containers}

    async def one(platform: Platform) -> None:
        tarball = containers[platform].as_tarball(
            forced_compression=dagger.ImageLayerCompression.Gzip, media_types=dagger.ImageMediaTypes.OCIMediaTypes
        )
        await tarball.export(str(paths[platform]))

    async with anyio.create_task_group() as group:
        for platform in containers:
            group.start_soon(one, platform)
    return paths


class Normalising(TypedDict):
    """How exported platform images are normalised (the same for a release and ``shipyard build``).
    ``base_layers``: each platform's base-image ``diff_id``s (``steps/base.py``), kept byte for
    byte; without them the image history decides, which an imported cache can blur."""

    epoch: int
    annotations: Mapping[str, str]
    layout: Path
    base_layers: NotRequired[Mapping[Platform, Sequence[str]] | None]
    layer_cache: NotRequired[Path | None]  # layers normalised before, by what went in (LayerCache)


def assemble_release(exports: Mapping[Platform, Path], **options: Unpack[Normalising]) -> AssembledRelease:
    """Normalise every exported platform image into ``layout`` and write the release index."""
    store, manifests = _normalise_exports(exports, options)
    return _write_index(store, manifests, options["annotations"])


def write_platform_layout(exports: Mapping[Platform, Path], **options: Unpack[Normalising]) -> dict[Platform, Descriptor]:
    """Normalise every exported platform image into ``layout`` exactly as a release does, without
    a release index: ``index.json`` lists each platform's manifest (``shipyard build``)."""
    store, manifests = _normalise_exports(exports, options)
    entries = [m.to_dict() for m in manifests.values()]
    store.layout.write_index(canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}))
    return manifests


def _normalise_exports(exports: Mapping[Platform, Path], options: Normalising) -> tuple[_BlobStore, dict[Platform, Descriptor]]:
    """Each exported platform image, normalised into the layout's store (one release's way, for
    both a release index and ``shipyard build``'s layout)."""
    store = _BlobStore(options["layout"])
    base_layers = options.get("base_layers")
    cache_root = options.get("layer_cache")
    cache = LayerCache(cache_root) if cache_root is not None else None

    def one(platform: Platform, tarball: Path) -> Descriptor:
        with tempfile.TemporaryDirectory(dir=store.tmp_dir) as tmp:
            with tarfile.open(tarball) as archive:
                _extract_layout(archive, Path(tmp))
            base = None if base_layers is None else tuple(base_layers.get(platform, ()))
            return _normalise_image(OciLayout(Path(tmp)), platform, options["epoch"], options["annotations"], store, base, cache)

    # One thread per platform: re-compressing the layers the build wrote is most of the work, and
    # zlib runs outside the GIL, so the platforms share the cores (the bytes are the same).
    with ThreadPoolExecutor(max_workers=max(1, len(exports)), thread_name_prefix="normalise") as pool:
        descriptors = list(pool.map(one, exports.keys(), exports.values()))
    return store, dict(zip(exports.keys(), descriptors, strict=True))


def assemble_from_layouts(images: Mapping[Platform, tuple[Path, str]], *, annotations: Mapping[str, str], layout: Path) -> AssembledRelease:
    """The release from platform images another ``build`` normalised (``publish --from``):
    ``images`` maps each platform to (its layout, its manifest's digest there). Config and layers
    are kept byte for byte; each manifest is written again with the release's annotations, as a
    one-engine release writes it, then the index."""
    store = _BlobStore(layout)
    manifests: dict[Platform, Descriptor] = {}
    for platform, (root, digest) in images.items():
        built_in = OciLayout(root)
        built = built_in.read_json(digest)
        config = built["config"]
        store.put_file(built_in.blob_path(config["digest"]), OCI_CONFIG, digest=config["digest"])
        layers = []
        for layer in built["layers"]:
            layers.append(store.put_file(built_in.blob_path(layer["digest"]), layer["mediaType"], digest=layer["digest"]))
        config_desc = Descriptor(media_type=OCI_CONFIG, digest=config["digest"], size=int(config["size"]))
        stored = store.put_bytes(canonical_json(image_manifest(config_desc, layers, annotations)), OCI_MANIFEST)
        manifests[platform] = Descriptor(media_type=OCI_MANIFEST, digest=stored.digest, size=stored.size, platform=platform)
    return _write_index(store, manifests, annotations)


def _write_index(store: _BlobStore, manifests: dict[Platform, Descriptor], annotations: Mapping[str, str]) -> AssembledRelease:
    index_bytes = canonical_json(image_index(manifests.values(), annotations))
    index = store.put_bytes(index_bytes, "application/vnd.oci.image.index.v1+json")
    store.layout.write_index(canonical_json({"schemaVersion": 2, "manifests": [index.to_dict()]}))
    return AssembledRelease(layout=str(store.layout.root), index=index, manifests=manifests, size=store.size)


def _extract_layout(archive: tarfile.TarFile, dest: Path) -> None:
    """Extract an exported OCI layout: regular files and directories inside ``dest`` only
    (``extractall(filter=...)`` is missing from the Python 3.11.2 that module containers run)."""
    members = [m for m in archive.getmembers() if m.isreg() or m.isdir()]
    for member in members:
        if member.name.startswith("/") or ".." in Path(member.name).parts:
            raise ValueError(f"unsafe path in an exported image: {member.name}")
    archive.extractall(dest, members=members)


def _normalise_image(
    exported: OciLayout,
    platform: Platform,
    epoch: int,
    annotations: Mapping[str, str],
    store: _BlobStore,
    base: tuple[str, ...] | None,
    cache: LayerCache | None = None,
) -> Descriptor:
    manifest = exported.read_json(exported.read_index()["manifests"][0]["digest"])
    if oci_media_type(manifest.get("mediaType", OCI_MANIFEST)) != OCI_MANIFEST:
        manifest = exported.read_json(manifest["manifests"][0]["digest"])  # a one-entry index around it
    config = exported.read_json(manifest["config"]["digest"])
    layers: list[Descriptor] = []
    diff_ids: list[str] = []
    diff_ids_in = list(config["rootfs"]["diff_ids"])
    if base is not None:  # the base image's layers are a prefix of the image's
        shared = next((i for i, (a, b) in enumerate(zip(base, diff_ids_in, strict=False)) if a != b), min(len(base), len(diff_ids_in)))
        built = [i >= shared for i in range(len(diff_ids_in))]
    else:
        built = built_by_the_build(config, len(manifest["layers"]))
    for layer, diff_id, rewrite in zip(manifest["layers"], config["rootfs"]["diff_ids"], built, strict=True):
        blob = exported.blob_path(layer["digest"])
        media_type = oci_media_type(layer["mediaType"])
        cached = cache.get(diff_id, epoch) if cache is not None and rewrite else None
        clamped = cached or (_clamp_layer(blob, media_type, epoch, store.tmp_dir) if rewrite else None)
        if clamped is None:
            layers.append(store.put_file(blob, media_type, digest=layer["digest"]))
            diff_ids.append(diff_id)
        else:
            path, new_diff_id = clamped
            layers.append(store.put_file(path, OCI_LAYER_GZIP))
            diff_ids.append(new_diff_id)
            if cache is not None and cached is None:
                cache.put(diff_id, epoch, path, new_diff_id)
    new_config = normalise_config(config, platform=platform, epoch=epoch, diff_ids=diff_ids)
    config_desc = store.put_bytes(canonical_json(new_config), OCI_CONFIG)
    manifest_bytes = canonical_json(image_manifest(config_desc, layers, annotations))
    stored = store.put_bytes(manifest_bytes, OCI_MANIFEST)
    return Descriptor(media_type=OCI_MANIFEST, digest=stored.digest, size=stored.size, platform=platform)


# The history comment of a layer a Dockerfile step wrote, and of history entries the engine's
# exporter adds for layers the config's history does not account for ("pulled from <ref>" for a
# base image's, the step's description otherwise).
_DOCKERFILE_STEP = "buildkit.dockerfile.v0"
_EXPORTER_ENTRY = "buildkit.exporter.image.v0"


def built_by_the_build(config: Mapping[str, Any], layer_count: int) -> list[bool]:
    """Per layer: did this build write it (True), or does it come from a base image (False)?

    The k-th history entry that is not ``empty_layer`` describes the k-th layer. A layer is a
    base image's when its entry was not written by a Dockerfile step (a base image built by
    debuerreotype, Bazel, ko, …) or the engine recorded it as ``pulled from`` an image. When the
    history does not account for every layer, every layer counts as built: rewriting a base layer
    costs registry deduplication only, while keeping a built layer as it is would make the
    release's digest depend on the engine's cache."""
    entries = [h for h in config.get("history") or [] if not h.get("empty_layer")]
    if len(entries) != layer_count:
        return [True] * layer_count
    return [_written_by_a_step(entry) for entry in entries]


def _written_by_a_step(entry: Mapping[str, Any]) -> bool:
    comment = str(entry.get("comment", ""))
    if comment == _DOCKERFILE_STEP:
        return True
    return comment == _EXPORTER_ENTRY and not str(entry.get("created_by", "")).startswith("pulled from ")


def _clamp_layer(blob: Path, media_type: str, epoch: int, tmp_dir: Path) -> tuple[Path, str] | None:
    """Rewrite a layer the build wrote with every time set to ``epoch``; ``None`` for a layer that
    cannot be rewritten (zstd or foreign layers are kept as they are)."""
    if media_type not in (OCI_LAYER_GZIP, OCI_LAYER):
        return None
    fd, name = tempfile.mkstemp(dir=tmp_dir, suffix=".tar.gz")
    os.close(fd)
    out_path = Path(name)
    with open(out_path, "wb") as out_file:
        gz = gzip.GzipFile(filename="", mode="wb", fileobj=out_file, mtime=0, compresslevel=6)
        hashing = _HashingWriter(gz)
        with (
            _open_layer(blob, media_type) as raw,
            tarfile.open(fileobj=raw, mode="r|") as tin,
            tarfile.open(fileobj=hashing, mode="w|", format=tarfile.PAX_FORMAT) as tout,  # type: ignore[call-overload]
        ):
            for member in tin:
                member.mtime = epoch
                member.pax_headers = {k: v for k, v in member.pax_headers.items() if k not in ("mtime", "atime", "ctime")}
                tout.addfile(member, tin.extractfile(member) if member.isreg() else None)
        gz.close()
    return out_path, "sha256:" + hashing.sha.hexdigest()


def _open_layer(blob: Path, media_type: str) -> BinaryIO:
    if media_type == OCI_LAYER_GZIP:
        return cast(BinaryIO, gzip.open(blob, "rb"))
    return blob.open("rb")


class _HashingWriter:
    """A write-only file object that hashes what passes through (the layer's diff_id)."""

    def __init__(self, target: gzip.GzipFile) -> None:
        self.target = target
        self.sha = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        return self.target.write(data)


def default_layer_cache() -> Path:
    """Where this machine keeps normalised layers: ``$XDG_CACHE_HOME/shipyard/layers``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "shipyard" / "layers"


class LayerCache:
    """Layers this machine normalised before, by what went in: the layer as the build wrote it
    (its ``diff_id``: uncompressed, so the engine's compression does not matter), the epoch, and
    the zlib that compressed it. A re-release of an unchanged build (a re-run after a failed
    signature, the same commit to another registry) reads its layers back instead of compressing
    them again; a changed layer has another ``diff_id`` and is normalised anew. Each entry is
    checked against its digest when read (a damaged one is dropped and made again), and the
    oldest go once there are more than ``keep``."""

    VERSION = 1  # bump when the normalised bytes change for the same input

    def __init__(self, root: Path, keep: int = 256) -> None:
        self.root, self.keep = root, keep

    def _key(self, diff_id: str, epoch: int) -> str:
        text = f"{self.VERSION}\0{diff_id}\0{epoch}\0{zlib.ZLIB_RUNTIME_VERSION}"
        return hashlib.sha256(text.encode()).hexdigest()

    def get(self, diff_id: str, epoch: int) -> tuple[Path, str] | None:
        """The normalised layer (a file of the cache, to copy from) and its ``diff_id``, or ``None``."""
        key = self._key(diff_id, epoch)
        blob, meta = self.root / f"{key}.tar.gz", self.root / f"{key}.json"
        try:
            entry = json.loads(meta.read_text())
            if sha256_of(blob) != Digest.parse(entry["digest"]):
                raise ValueError("damaged")
            os.utime(meta)  # recently used: kept longest
            return blob, str(entry["diff_id"])
        except (OSError, ValueError, KeyError, TypeError):
            for path in (blob, meta):
                path.unlink(missing_ok=True)
            return None

    def put(self, diff_id: str, epoch: int, path: Path, new_diff_id: str) -> None:
        """Keep a normalised layer (best effort: a cache that cannot be written is no error)."""
        key = self._key(diff_id, epoch)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            part = self.root / f"{key}.{threading.get_ident()}.part"
            shutil.copyfile(path, part)
            part.replace(self.root / f"{key}.tar.gz")
            entry = {"digest": str(sha256_of(self.root / f"{key}.tar.gz")), "diff_id": new_diff_id}
            (self.root / f"{key}.json.part").write_text(json.dumps(entry))
            (self.root / f"{key}.json.part").replace(self.root / f"{key}.json")
            entries = sorted(self.root.glob("*.json"), key=lambda p: p.stat().st_mtime)
            for old in entries[: max(0, len(entries) - self.keep)]:
                old.unlink(missing_ok=True)
                old.with_suffix(".tar.gz").unlink(missing_ok=True)
        except OSError:
            return


class _BlobStore:
    """The blobs of the layout being written, and how many bytes were new."""

    def __init__(self, root: Path) -> None:
        self.layout = OciLayout(root)
        root.mkdir(parents=True, exist_ok=True)
        self.tmp_dir = root.parent
        self.size = 0
        self._lock = threading.Lock()  # platforms are normalised in threads: one writer of a blob at a time

    def put_bytes(self, data: bytes, media_type: str) -> Descriptor:
        with self._lock:
            _, new = self.layout.write_blob(data)
            self.size += len(data) if new else 0
        return Descriptor.of(media_type, data)

    def put_file(self, path: Path, media_type: str, digest: str | None = None) -> Descriptor:
        with self._lock:
            named, new = self.layout.copy_blob(path, digest)
            size = path.stat().st_size
            self.size += size if new else 0
        return Descriptor(media_type=media_type, digest=str(named), size=size)
