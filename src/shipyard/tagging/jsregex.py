"""JavaScript regular expressions, as ``type=match,pattern=…`` and ``match=…`` are written for metadata-action.

``pattern=/body/flags`` is a regex literal (flags ``i m s g u y d``); any other pattern is the body
with no flags. Without ``g`` the result is the first match and its groups; with ``g`` it is the
list of every whole match (so ``group=1`` is the second match), as ``String.prototype.match``
returns. ``\\d`` and ``\\w`` are ASCII, as in JavaScript; ``(?<name>…)`` and ``\\k<name>`` work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard.errors import InvalidInput

_LITERAL = re.compile(r"/(.+)/(.*)", re.DOTALL)
_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "g": 0, "u": 0, "y": 0, "d": 0}


@dataclass(frozen=True)
class JsRegex:
    regex: re.Pattern[str]
    is_global: bool = False
    sticky: bool = False

    def match(self, text: str) -> list[str | None] | None:
        """What ``text.match(regex)`` returns: the groups of the first match, or every match with ``g``."""
        if self.is_global:
            found = _sticky_run(self.regex, text) if self.sticky else list(self.regex.finditer(text))
            return [m.group(0) for m in found] or None
        first = self.regex.match(text) if self.sticky else self.regex.search(text)
        if first is None:
            return None
        return [first.group(0), *first.groups()]


def _sticky_run(regex: re.Pattern[str], text: str) -> list[re.Match[str]]:
    out: list[re.Match[str]] = []
    pos = 0
    while pos <= len(text):
        m = regex.match(text, pos)
        if m is None:
            break
        out.append(m)
        pos = m.end() if m.end() > pos else pos + 1
    return out


def _translate(body: str) -> str:
    """Rewrite the few JavaScript spellings Python reads differently."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == "k" and body.startswith("<", i + 2) and not in_class:
                end = body.index(">", i + 3)
                out.append(f"(?P={body[i + 3 : end]})")
                i = end + 1
                continue
            if nxt == "/":
                out.append("/")
            else:
                out.append(body[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
            out.append(ch)
        elif body.startswith("[^]", i):
            out.append(r"[\s\S]")
            i += 3
            continue
        elif ch == "[":
            in_class = True
            out.append(ch)
            if body.startswith("]", i + 1) or body.startswith("^]", i + 1):  # a ] first in a class is literal in Python only
                raise ValueError("an empty character class never matches")
        elif body.startswith("(?<", i) and not body.startswith(("(?<=", "(?<!"), i):
            out.append("(?P<")
            i += 3
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def compile_js(pattern: str, *, line: str, literal: bool = True) -> JsRegex:
    """Compile ``pattern`` (``/body/flags`` when ``literal``); errors name the tag line."""
    body, flags = pattern, ""
    found = _LITERAL.fullmatch(pattern) if literal else None
    if found:
        body, flags = found.group(1), found.group(2)
    unknown = [f for f in flags if f not in _FLAGS]
    if unknown or len(set(flags)) != len(flags):
        raise InvalidInput("tag spec", line, f"regex flags {flags!r} are not valid", "Use any of the flags i, m, s, g, u, y, d once.")
    py_flags = re.ASCII
    for flag in flags:
        py_flags |= _FLAGS[flag]
    try:
        regex = re.compile(_translate(body), py_flags)
    except (re.error, ValueError) as exc:
        raise InvalidInput("tag spec", line, f"regex {body!r} is not valid ({exc})", "Fix the regular expression.") from None
    return JsRegex(regex, is_global="g" in flags, sticky="y" in flags)
