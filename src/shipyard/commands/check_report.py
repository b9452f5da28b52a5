"""``check-report``: the outcome a publish's ``report.json`` records."""

from __future__ import annotations

from shipyard.commands.door import (
    Door,
)
from shipyard.reports.report import ReportCheck


async def check_report(*, report: str, door: Door) -> ReportCheck:
    """The outcome a ``report.json`` records (not ok: exit 3 / the function fails)."""
    del door  # reads nothing else
    return ReportCheck.from_json(report)
