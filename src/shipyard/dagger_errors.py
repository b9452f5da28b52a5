"""How a Dagger function ends on a ShipyardError: with its one-line message, as the CLI prints it.

The SDK logs a full traceback for any other exception, which is right for a bug and noise for
a mistake in the arguments; ``FunctionError`` is its documented way to end with a message only.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from shipyard.errors import shipyard_error_in
from shipyard.sdk import FunctionError

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn a ShipyardError (or a task group of them) into the SDK's FunctionError; leave bugs alone."""
    try:
        yield
    except Exception as exc:
        error = shipyard_error_in(exc)
        if error is None:
            raise
        raise FunctionError(str(error)) from None


def clear_errors(func: F) -> F:
    """Decorate a ``@function`` (sync or async) so its ShipyardErrors end it with one line."""
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            with one_line_errors():
                return await func(*args, **kwargs)

        return cast(F, run_async)

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        with one_line_errors():
            return func(*args, **kwargs)

    return cast(F, run)
