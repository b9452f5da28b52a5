"""Shipyard releases container images: tags, release plans, registry cleanup, Docker Hub overviews."""

# ``Shipyard`` (the Dagger main object) is loaded lazily, so that the pure planning code and
# the CLI import without the Dagger SDK doing any work.

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Shipyard", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Shipyard":
        from shipyard.main import Shipyard

        return Shipyard
    raise AttributeError(name)
