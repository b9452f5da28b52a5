"""crane, run in its tool container: the registry operations of a release (push, list, tag, digest).

One exec per operation, so the upstream image (no shell) works as well as a mirror's. Transient
registry failures (429, 5xx, dropped connections) are retried here on top of crane's own retries;
anything else fails at once with crane's message, naming the registry.
"""

from __future__ import annotations

import dagger

from shipyard.plan.errors import RegistryError
from shipyard.plan.refs import parse_reference
from shipyard.steps.tools import RegistryAccess, tool_container

_TRANSIENT = ("429", "500 ", "502", "503", "504", "Service Unavailable", "Bad Gateway", "connection reset", "EOF", "timeout")
ATTEMPTS = 5


class Crane:
    """crane in the engine, with every registry of the release attached."""

    def __init__(self, image: str, access: RegistryAccess) -> None:
        self.image = image
        self.access = access

    async def run(self, *args: str, registry: str, mounts: dict[str, dagger.Directory] | None = None) -> str:
        """Run ``crane ARGS`` (references already as users write them) and return its stdout."""
        inside = [self.access.inside(a) if _is_reference(a) else a for a in args]
        flags = ["--insecure"] if self.access.insecure([registry]) else []
        last = ""
        for _attempt in range(ATTEMPTS):
            container = tool_container(self.image, self.access)
            for path, directory in (mounts or {}).items():
                container = container.with_mounted_directory(path, directory)
            try:
                return await container.with_exec(["crane", *inside, *flags], use_entrypoint=False).stdout()
            except dagger.ExecError as exc:
                last = (exc.stderr or exc.stdout).strip()
                if not any(marker in last for marker in _TRANSIENT):
                    break
        raise RegistryError(registry, _short(last))

    async def push_layout(self, layout: dagger.Directory, repository: str, digest: str) -> str:
        """Push the OCI layout's index (and everything it references) by digest; no tag is written."""
        ref = f"{repository}@{digest}"
        out = await self.run("push", "/layout", ref, registry=parse_reference(ref).registry, mounts={"/layout": layout})
        pushed = out.strip().rsplit("@", 1)[-1]
        if pushed != digest:
            raise RegistryError(parse_reference(ref).registry, f"pushed {repository} but the registry holds {pushed}, not {digest}")
        return digest

    async def list_tags(self, repository: str) -> list[str]:
        registry = parse_reference(repository).registry
        try:
            return (await self.run("ls", repository, registry=registry)).split()
        except RegistryError as exc:
            if "NAME_UNKNOWN" in str(exc) or "404" in str(exc):
                return []  # a repository this release creates
            raise

    async def digest(self, reference: str) -> str | None:
        registry = parse_reference(reference).registry
        try:
            return (await self.run("digest", reference, registry=registry)).strip()
        except RegistryError as exc:
            if "MANIFEST_UNKNOWN" in str(exc) or "NAME_UNKNOWN" in str(exc) or "404" in str(exc):
                return None
            raise

    async def tag(self, repository: str, digest: str, tag: str) -> None:
        await self.run("tag", f"{repository}@{digest}", tag, registry=parse_reference(repository).registry)


def _is_reference(arg: str) -> bool:
    return "/" in arg and not arg.startswith("/") and not arg.startswith("-")


def _short(message: str) -> str:
    lines = [line for line in message.splitlines() if line.strip()]
    return lines[-1][-500:] if lines else "crane failed without a message"
