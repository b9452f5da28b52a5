"""Seed a repository the way release pipelines leave one behind, using crane and cosign only.

Layout (ages relative to now; every image carries org.opencontainers.image.created):

  1.0.0                       release, 200 days, signed (tag scheme and OCI 1.1 referrers)
  1.1.0, 1.1, 1, latest       multi-arch index (amd64, arm64), 100 days; index and arm64 signed,
                              index attested (spdxjson)
  2.0.0-rc.1                  pre-release, 50 days, signed
  2.0.0-rc.2                  pre-release, 40 days, signed the OCI 1.1 way only (referrers
                              fallback tag sha256-<digest> -> index -> signature manifest)
  2.0.0-rc.3                  pre-release index (amd64, arm64), 30 days, index and amd64 signed
  feature-x                   branch build, 120 days
  edge                        moved three times: U1 (60 days, signed) and U2 (an index, 90 days,
                              signed) are left untagged; edge now points at U3 (5 days)
  orphan signature            of an image that was deleted (its .sig tag remains)
"""

from __future__ import annotations

import io
import tarfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.integration.tools import Tools


@dataclass
class Seed:
    repo: str  # registry/repository
    key: Path
    pub: Path
    digests: dict[str, str] = field(default_factory=dict)  # name -> digest
    children: dict[str, list[str]] = field(default_factory=dict)  # name -> child digests
    signatures: dict[str, str] = field(default_factory=dict)  # subject name -> .sig tag

    def sig_tag(self, digest: str, suffix: str = "sig") -> str:
        return digest.replace(":", "-") + f".{suffix}"


def _layer(path: Path, content: str) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = content.encode()
        info = tarfile.TarInfo("payload.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    return path


def _created(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def push_image(tools: Tools, ref: str, *, days: int, platform: str = "linux/amd64") -> str:
    """Push a unique single-platform image to ``ref`` (a tag) and return its digest."""
    layer = _layer(tools.home / f"{uuid.uuid4().hex}.tar", uuid.uuid4().hex)
    tools.run("crane", "append", "-f", str(layer), "-t", ref)
    tools.run("crane", "mutate", "--set-platform", platform, "-a", f"org.opencontainers.image.created={_created(days)}", ref)
    return tools.digest(ref)


def push_index(tools: Tools, ref: str, scratch: str, *, days: int) -> tuple[str, list[str]]:
    """Push a two-platform index to ``ref``; its children are pushed untagged (via a scratch repo)."""
    children = []
    for platform in ("linux/amd64", "linux/arm64"):
        tmp = f"{scratch}:{uuid.uuid4().hex[:8]}"
        children.append(push_image(tools, tmp, days=days, platform=platform))
    manifests = [a for c in children for a in ("-m", f"{scratch}@{c}")]
    tools.run("crane", "index", "append", *manifests, "-t", ref)
    return tools.digest(ref), children


def seed_repository(tools: Tools, repo: str) -> Seed:
    key, pub = tools.keypair("seed")
    seed = Seed(repo=repo, key=key, pub=pub)
    scratch = f"{repo}-scratch"
    d = seed.digests

    d["1.0.0"] = push_image(tools, f"{repo}:1.0.0", days=200)
    d["1.1.0"], seed.children["1.1.0"] = push_index(tools, f"{repo}:1.1.0", scratch, days=100)
    for alias in ("1.1", "1", "latest"):
        tools.run("crane", "tag", f"{repo}:1.1.0", alias)
    d["2.0.0-rc.1"] = push_image(tools, f"{repo}:2.0.0-rc.1", days=50)
    d["2.0.0-rc.2"] = push_image(tools, f"{repo}:2.0.0-rc.2", days=40)
    d["2.0.0-rc.3"], seed.children["2.0.0-rc.3"] = push_index(tools, f"{repo}:2.0.0-rc.3", scratch, days=30)
    d["feature-x"] = push_image(tools, f"{repo}:feature-x", days=120)
    d["U1"] = push_image(tools, f"{repo}:edge", days=60)
    tools.sign(f"{repo}@{d['U1']}", key)
    d["U2"], seed.children["U2"] = push_index(tools, f"{repo}:edge", scratch, days=90)
    tools.sign(f"{repo}@{d['U2']}", key)
    d["U3"] = push_image(tools, f"{repo}:edge", days=5)
    d["gone"] = push_image(tools, f"{repo}:doomed", days=10)
    tools.sign(f"{repo}@{d['gone']}", key)
    tools.run("crane", "delete", f"{repo}@{d['gone']}")

    for name in ("1.0.0", "1.1.0", "2.0.0-rc.1", "2.0.0-rc.3"):
        tools.sign(f"{repo}@{d[name]}", key)
    tools.sign(f"{repo}@{seed.children['1.1.0'][1]}", key)
    tools.sign(f"{repo}@{seed.children['2.0.0-rc.3'][0]}", key)
    tools.attest(f"{repo}@{d['1.1.0']}", key, {"spdxVersion": "SPDX-2.3", "name": "seed"})
    tools.sign_referrers(f"{repo}@{d['1.0.0']}", key)
    tools.sign_referrers(f"{repo}@{d['2.0.0-rc.2']}", key)
    return seed
