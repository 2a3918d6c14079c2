"""The organization's calendar: every action due up to a date, from one audit run."""

from __future__ import annotations

from datetime import datetime

from keyrotate.domain.forecast import Forecast, forecast
from keyrotate.domain.policy import RotationPolicy
from keyrotate.domain.results import RunReport


def calendar(
    report: RunReport, policy: RotationPolicy, until: datetime
) -> list[tuple[str, Forecast]]:
    """(account id, entry) for every action from the run's start to ``until``, by date."""
    entries: list[tuple[str, Forecast]] = []
    for account in report.accounts:
        for user in account.users:
            if user.inputs is None:
                continue
            found = forecast(user.inputs, policy, start=report.started, until=until)
            entries.extend((account.account.account_id, entry) for entry in found)
    entries.sort(key=lambda item: (item[1].when, item[0], item[1].user_name))
    return entries
