"""The arguments of each Dagger function, read from ``main.py``'s signatures: the one declaration.

``main.py`` declares every argument once (``Annotated[T, Doc("…")]``, a default, an enum for a
closed choice); the ``shipyard`` command builds its subcommands from what :func:`functions`
reads here, so an argument added to a function appears in the CLI with the same name, default,
help and choices. How each type maps:

======================================  ==================================================
``str`` / ``int``                       ``--name VALUE``
``bool``                                ``--name`` (a flag)
``list[X]``                             ``--name`` repeated
an enum                                 ``--name`` with its values as choices
``dagger.Secret``                       ``--name env:NAME|file:PATH`` (read on this machine)
``list[dagger.Secret]``                 ``--name ID=env:NAME|file:PATH`` repeated
``dagger.File``                         ``--name PATH`` (a file on this machine)
``dagger.Directory``                    ``--name DIR`` (``DefaultPath`` is its default)
``list[dagger.Directory]``              ``--name DIR`` repeated
``list[dagger.Service]``                not in the CLI (see ``cli.NOT_IN_CLI``)
======================================  ==================================================
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any

import dagger
from dagger import DefaultPath, Doc


class Kind(StrEnum):
    TEXT = "text"
    INT = "int"
    FLAG = "flag"
    CHOICE = "choice"
    SECRET = "secret"
    FILE = "file"
    DIRECTORY = "directory"
    SERVICE = "service"


_KINDS: dict[object, Kind] = {
    str: Kind.TEXT,
    int: Kind.INT,
    bool: Kind.FLAG,
    dagger.Secret: Kind.SECRET,
    dagger.File: Kind.FILE,
    dagger.Directory: Kind.DIRECTORY,
    dagger.Service: Kind.SERVICE,
}


@dataclass(frozen=True)
class Argument:
    """One argument of a Dagger function, as declared in ``main.py``."""

    name: str  # the Python name: publish(build_arg=...)
    kind: Kind
    help: str  # the Doc() text
    default: Any  # the declared default (DefaultPath's path for a directory), None when required
    required: bool
    repeatable: bool
    enum: type[Enum] | None = None

    @property
    def flag(self) -> str:
        """``--build-arg``: the name in ``dagger call`` and in ``shipyard`` alike. A trailing
        ``_`` (``from_``: a Python keyword) is dropped, as Dagger drops it."""
        return "--" + self.name.removesuffix("_").replace("_", "-")

    @property
    def choices(self) -> tuple[str, ...] | None:
        return tuple(str(m.value) for m in self.enum) if self.enum else None


def is_function(member: object) -> bool:
    """A method decorated with ``@function`` (or ``uncached_function``)."""
    return callable(member) and hasattr(member, "__dagger_function__")


def functions(cls: type) -> dict[str, list[Argument]]:
    """Every ``@function`` of ``cls`` (in declaration order) and its arguments."""
    return {name: arguments(member) for name, member in vars(cls).items() if is_function(member)}


def arguments(fn: Callable[..., Any]) -> list[Argument]:
    """The arguments of one function, from its undecorated signature and type hints."""
    plain = inspect.unwrap(fn)
    hints = typing.get_type_hints(plain, include_extras=True)
    out = []
    for name, parameter in inspect.signature(plain).parameters.items():
        if name == "self":
            continue
        out.append(_argument(name, hints[name], parameter.default))
    return out


def _argument(name: str, hint: Any, default: Any) -> Argument:
    metadata: tuple[Any, ...] = ()
    if typing.get_origin(hint) is typing.Annotated:
        hint, *extra = typing.get_args(hint)
        metadata = tuple(extra)
    docs = [m.documentation for m in metadata if isinstance(m, Doc)]
    if not docs:
        raise TypeError(f"argument {name!r} has no Doc(): users would see it without a description")
    default_path = next((str(m) for m in metadata if isinstance(m, DefaultPath)), None)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    repeatable = typing.get_origin(hint) is list
    if repeatable:
        (hint,) = typing.get_args(hint)
    enum = hint if isinstance(hint, type) and issubclass(hint, Enum) else None
    kind = Kind.CHOICE if enum else _KINDS.get(hint)
    if kind is None:
        raise TypeError(f"argument {name!r} has type {hint!r}, which the shipyard command cannot map (see shipyard.arguments)")
    has_default = default is not inspect.Parameter.empty
    return Argument(
        name=name,
        kind=kind,
        help=docs[0],
        default=default if has_default else default_path,
        required=not has_default and default_path is None,
        repeatable=repeatable,
        enum=enum,
    )
