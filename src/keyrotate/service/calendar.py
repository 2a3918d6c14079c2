"""The organization's calendar: every action due up to a date, from one audit run."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from keyrotate.domain.exemptions import describe as describe_exemption
from keyrotate.domain.forecast import Forecast, forecast, judged_inputs
from keyrotate.domain.models import ActionKind
from keyrotate.domain.policy import RotationPolicy
from keyrotate.domain.results import RunReport
from keyrotate.service.report import public_key_id, report_key_slot


def calendar(
    report: RunReport, policy: RotationPolicy, until: datetime
) -> list[tuple[str, Forecast]]:
    """(account id, entry) for every action from the run's start to ``until``, by date.

    A user read back without its engine inputs (a spilled run, the Lambda digest) is
    forecast from what its results tell (:func:`~keyrotate.domain.forecast.judged_inputs`).
    """
    entries: list[tuple[str, Forecast]] = []
    for account in report.accounts:
        for user in account.users:
            found = forecast(judged_inputs(user), policy, start=report.started, until=until)
            entries.extend((account.account.account_id, entry) for entry in found)
    entries.sort(key=lambda item: (item[1].when, item[0], item[1].user_name))
    return entries


def calendar_rows(
    report: RunReport, policy: RotationPolicy, until: datetime
) -> list[dict[str, Any]]:
    """The calendar as records, keys shown the way the run report shows them. An EXEMPT
    entry's reason says what exempts the user, until when and why (its ``exemption``)."""
    exemptions = {
        (account.account.account_id, user.user_name): describe_exemption(user.exemption)
        for account in report.accounts
        for user in account.users
        if user.exemption is not None
    }
    rows: list[dict[str, Any]] = []
    for account_id, entry in calendar(report, policy, until):
        exemption = exemptions.get((account_id, entry.user_name))
        exempt = entry.kind is ActionKind.EXEMPT and exemption is not None
        rows.append(
            {
                "date": entry.when.date().isoformat(),
                "account_id": account_id,
                "user_name": entry.user_name,
                "access_key_id": public_key_id(entry.key_id),
                "access_key_slot": report_key_slot(entry.key_id),
                "action": entry.kind.value,
                "reason": f"{entry.reason.sentence}: {exemption}"
                if exempt
                else entry.reason.sentence,
                "exemption": exemption,
            }
        )
    return rows


def shown_key(row: Mapping[str, Any]) -> str:
    """A calendar row's key as people read it: its id, or which slot when it was not read."""
    if row["access_key_id"]:
        return str(row["access_key_id"])
    slot = row.get("access_key_slot")
    return f"(key {slot})" if slot else ""
