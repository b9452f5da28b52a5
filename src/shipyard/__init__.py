"""Shipyard releases container images: tags, release plans, registry cleanup, Docker Hub overviews."""

# ``Shipyard`` (the Dagger main object) is loaded lazily, so that the pure planning code and
# the CLI import without the Dagger SDK doing any work.

from __future__ import annotations

from typing import Any

# Released as the Git tag v<__version__> (CHANGELOG.md); pyproject.toml carries the same number.
__version__ = "0.2.0"
__all__ = ["Shipyard", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Shipyard":
        from shipyard.main import Shipyard

        return Shipyard
    raise AttributeError(name)
