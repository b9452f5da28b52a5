"""Local files named by arguments (a README, a token file): read as UTF-8 text, and every way
that can fail (missing, a directory, unreadable, too large, not UTF-8) is an error naming the argument."""

from __future__ import annotations

from pathlib import Path

from shipyard.errors import InvalidInput

MAX_BYTES = 1 << 20  # far above any token or Docker Hub overview; stops /dev/zero and the like


def read_text_file(path: str, *, what: str, shown_as: str | None = None) -> str:
    """The text of ``path``; ``what`` names the argument, ``shown_as`` the value as the user gave it."""
    value = path if shown_as is None else shown_as
    if not path or "\x00" in path:
        raise InvalidInput(what, value, "is not a file path", "Give the path of a file.")
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise InvalidInput(what, value, f"file {path} does not exist", "Check the path.") from None
    except IsADirectoryError:
        raise InvalidInput(what, value, f"{path} is a directory", "Give the path of a file inside it.") from None
    except PermissionError:
        raise InvalidInput(what, value, f"file {path} cannot be read (permission denied)", "Fix its permissions.") from None
    except OSError as exc:
        raise InvalidInput(what, value, f"file {path} cannot be read ({exc.strerror or exc})", "Give a readable file.") from None
    if len(data) > MAX_BYTES:
        raise InvalidInput(what, value, f"file {path} is larger than {MAX_BYTES} bytes", "Give the right file.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            what, value, f"file {path} is not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start})", "Save it as UTF-8."
        ) from None
