"""The smoke test's verdict, from what the probe printed (pure): healthy is HTTP 2xx in time."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shipyard.plan.config import SmokeTest


@dataclass(frozen=True)
class SmokeResult:
    """One smoke test: which image ran, what the probe asked, and the last answer it got."""

    platform: str
    port: int
    path: str
    status: int | None  # the last HTTP status, None when no answer came
    error: str | None  # the last connection error, when no HTTP answer came
    attempts: int
    timeout: int

    @property
    def passed(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def last_answer(self) -> str:
        if self.status is not None:
            return f"HTTP {self.status}"
        return f"connection error: {self.error or 'no answer'}"

    def describe(self) -> str:
        where = f"GET :{self.port}{self.path} on the {self.platform} image"
        if self.passed:
            return f"{where}: HTTP {self.status} after {self.attempts} attempt(s)"
        return f"{where}: no 2xx answer within {self.timeout}s ({self.attempts} attempt(s)); last answer: {self.last_answer()}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "result": "passed" if self.passed else "failed",
            "platform": self.platform,
            "port": self.port,
            "path": self.path,
            "status": self.status,
            "error": self.error,
            "attempts": self.attempts,
            "timeout": self.timeout,
        }


def smoke_result(platform: str, test: SmokeTest, probe_output: str) -> SmokeResult:
    """Read the probe's one JSON line (``{"status", "error", "attempts"}``); anything else is a
    failed probe whose output is the error."""
    try:
        data = json.loads(probe_output.strip().splitlines()[-1])
        status = data.get("status")
        error = data.get("error")
        attempts = int(data.get("attempts", 0))
    except (IndexError, ValueError, AttributeError, TypeError):
        text = " ".join(probe_output.split())[-300:]
        return SmokeResult(platform, test.port, test.path, None, f"the probe printed no result ({text or 'nothing'})", 0, test.timeout)
    return SmokeResult(
        platform=platform,
        port=test.port,
        path=test.path,
        status=int(status) if isinstance(status, int) else None,
        error=str(error) if error else None,
        attempts=attempts,
        timeout=test.timeout,
    )
