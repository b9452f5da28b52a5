"""The base image's layers of each platform, so assembly keeps them byte for byte.

The engine names a layer in an exported image by where its cache got it (``pulled from …``,
or ``imported sha256:…`` after a cache import, for a base layer and a built one alike), so the
history cannot tell base layers from built ones once a cache was imported. Instead the base
image alone is built here from the same Dockerfile, cut after the ``FROM`` of the built stage's
root (``release/dockerfile.py``), with the same arguments and platform, and its layers are read.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio
import dagger

from shipyard.errors import ShipyardError
from shipyard.oci_layout import INDEX, OciLayout
from shipyard.release.dockerfile import BASE_DOCKERFILE, base_image_dockerfile
from shipyard.steps.tools import engine_reason
from shipyard.values.platforms import Platform


async def base_layers(
    source: dagger.Directory,
    dockerfile_text: str,
    target: str,
    build_args: Mapping[str, str],
    platforms: Sequence[Platform],
    workdir: Path,
) -> dict[Platform, tuple[str, ...]]:
    """Each platform's base-image ``diff_id``s, in order (empty for ``FROM scratch``)."""
    text = base_image_dockerfile(dockerfile_text, target) if dockerfile_text else None
    if text is None:
        return {p: () for p in platforms}
    context = source.with_new_file(BASE_DOCKERFILE, text)
    out: dict[Platform, tuple[str, ...]] = {}

    async def one(platform: Platform) -> None:
        base = context.docker_build(
            dockerfile=BASE_DOCKERFILE,
            platform=dagger.Platform(str(platform)),
            build_args=[dagger.BuildArg(name=k, value=v) for k, v in sorted(build_args.items())],
        )
        path = workdir / f"base-{str(platform).replace('/', '-')}.tar"
        try:
            await base.as_tarball(media_types=dagger.ImageMediaTypes.OCIMediaTypes).export(str(path))
        except dagger.QueryError as exc:  # the base image cannot be pulled (missing, or no credentials for its registry)
            raise ShipyardError(
                f"build for {platform} failed: its base image cannot be read: {engine_reason(exc)} "
                "(check the name, and give --registry-auth for its registry)"
            ) from None
        out[platform] = await anyio.to_thread.run_sync(_diff_ids, path)
        path.unlink(missing_ok=True)

    async with anyio.create_task_group() as group:
        for platform in platforms:
            group.start_soon(one, platform)
    return out


def _diff_ids(tarball: Path) -> tuple[str, ...]:
    """The ``diff_id``s of the one image in an exported OCI tarball (its layers are not read)."""
    with tarfile.open(tarball) as archive:

        def blob(digest: str) -> dict[str, object]:
            member = archive.extractfile(OciLayout.blob_name(digest))
            assert member is not None
            data: dict[str, object] = json.loads(member.read())
            return data

        index = json.loads(archive.extractfile(INDEX).read())  # type: ignore[union-attr]
        manifest = blob(index["manifests"][0]["digest"])
        if "manifests" in manifest:  # a one-entry index around it
            manifest = blob(manifest["manifests"][0]["digest"])  # type: ignore[index]
        config = blob(manifest["config"]["digest"])  # type: ignore[index]
        return tuple(config["rootfs"]["diff_ids"])  # type: ignore[index]
