"""What a Dockerfile's stages do for a multi-platform build: run natively or per target platform.

A stage written ``FROM --platform=$BUILDPLATFORM`` runs on the builder's own platform (and
cross-compiles with ``TARGETOS``/``TARGETARCH``); every other stage runs once per target
platform, its ``RUN`` steps under QEMU where the platform is foreign. The plan shows which.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FROM = re.compile(r"^\s*FROM\s+(?P<rest>.+?)\s*$", re.IGNORECASE)
_PLATFORM = re.compile(r"--platform=(\S+)")
_AS = re.compile(r"\s+AS\s+(\S+)\s*$", re.IGNORECASE)
_NATIVE = {"$BUILDPLATFORM", "${BUILDPLATFORM}"}


@dataclass(frozen=True)
class BuildStage:
    name: str
    image: str
    native: bool  # runs on the builder's platform (cross-compile); else once per target platform
    runs: bool  # has RUN steps (which a foreign target platform runs under QEMU)

    def describe(self) -> str:
        if self.native:
            return f"{self.name}: native on the builder (cross-compiles for each platform)"
        if self.runs:
            return f"{self.name}: per platform; RUN steps of foreign platforms under QEMU"
        return f"{self.name}: per platform (no RUN step)"


def dockerfile_stages(text: str) -> tuple[BuildStage, ...]:
    """The stages of a Dockerfile, in order (line continuations joined, comments skipped)."""
    joined = re.sub(r"\\\s*\n", " ", text)
    stages: list[BuildStage] = []
    current: dict[str, object] | None = None
    for line in joined.splitlines():
        if line.lstrip().startswith("#"):
            continue
        match = _FROM.match(line)
        if match:
            if current is not None:
                stages.append(BuildStage(**current))  # type: ignore[arg-type]
            rest = match.group("rest")
            platform = _PLATFORM.search(rest)
            alias = _AS.search(rest)
            image = _PLATFORM.sub("", _AS.sub("", rest)).strip()
            current = {
                "name": alias.group(1) if alias else f"stage {len(stages)}",
                "image": image,
                "native": bool(platform and platform.group(1) in _NATIVE),
                "runs": False,
            }
        elif current is not None and re.match(r"^\s*RUN\b", line, re.IGNORECASE):
            current["runs"] = True
    if current is not None:
        stages.append(BuildStage(**current))  # type: ignore[arg-type]
    return tuple(stages)


BASE_DOCKERFILE = ".shipyard-base.Dockerfile"  # written into the build context to build the base image alone


def base_image_dockerfile(text: str, target: str = "") -> str | None:
    """A Dockerfile that builds only the base image under the built stage: the original up to the
    ``FROM`` of the stage's root (following ``FROM <earlier stage>``), so the engine resolves the
    same ``ARG``s and platform. ``None`` when the root is ``scratch`` (no base layers)."""
    lines = re.sub(r"\\\s*\n", " ", text).splitlines()
    stages: list[tuple[str, str, int]] = []  # (alias, image, line index of its FROM)
    for index, line in enumerate(lines):
        match = _FROM.match(line)
        if match and not line.lstrip().startswith("#"):
            rest = match.group("rest")
            alias = _AS.search(rest)
            image = _PLATFORM.sub("", _AS.sub("", rest)).strip()
            stages.append((alias.group(1).lower() if alias else "", image, index))
    if not stages:
        return None
    chosen = next((s for s in stages if target and s[0] == target.lower()), stages[-1])
    seen = 0
    while seen < len(stages):  # FROM an earlier stage: that stage's base is the image's base
        earlier = [s for s in stages[: stages.index(chosen)] if s[0] and s[0] == chosen[1].lower()]
        if not earlier:
            break
        chosen, seen = earlier[-1], seen + 1
    if chosen[1].lower() == "scratch":
        return None
    return "\n".join(lines[: chosen[2] + 1]) + "\n"
