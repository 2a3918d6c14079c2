"""What a run tells other systems after each account: EventBridge events, Security Hub findings.

Made once per run (:attr:`keyrotate.service.context.RunContext.publisher`), and called with
each account's result by every caller of :func:`keyrotate.service.account.run_account` (the
CLI's run, the rotate-account Lambda), one account at a time. Both outlets are off unless
configured (``EventBusName``; ``SecurityHubFindings``), and both use the run's own
credentials in its home region: events go to that account's bus, findings to its hub.
Neither ever fails an account: what could not be published is added to the account's notes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from keyrotate.aws.events import EventBus
from keyrotate.aws.events import make_client as events_client
from keyrotate.aws.securityhub import FindingsHub
from keyrotate.aws.securityhub import make_client as securityhub_client
from keyrotate.domain.errors import AwsError
from keyrotate.domain.models import Account
from keyrotate.domain.results import AccountResult
from keyrotate.service.change_events import ChangePublisher, changes_of, restore_change
from keyrotate.service.findings import FindingsPublisher

if TYPE_CHECKING:
    from keyrotate.aws.session import AccountSessions
    from keyrotate.config import Settings

FindingsFactory = Callable[[], FindingsPublisher]


class RunPublisher:
    def __init__(self, events: ChangePublisher, findings: FindingsFactory | None = None) -> None:
        self.events = events
        self._findings_factory = findings
        self._findings: FindingsPublisher | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, sessions: AccountSessions, *, region: str, run_id: str
    ) -> RunPublisher:
        """The run's outlets; nothing is called until the first account is published."""
        bus = None
        if settings.event_bus:
            bus = EventBus(events_client(sessions.base, region), settings.event_bus)
        findings: FindingsFactory | None = None
        if settings.security_hub_findings:

            def findings() -> FindingsPublisher:
                hub = FindingsHub(
                    securityhub_client(sessions.base, region),
                    account_id=sessions.caller_account_id,  # the hub of the run's own account
                    region=region,
                    partition=sessions.partition,
                )
                return FindingsPublisher(hub)

        return cls(ChangePublisher(bus, run_id), findings)

    def publish_account(
        self, result: AccountResult, *, enforce: bool, now: datetime
    ) -> AccountResult:
        """``result``, with a note for everything that could not be published.

        ``enforce``: whether this account's run could change keys (the run's options as they
        are now: ``keyrotate restore`` tells owners through an audit of an enforcing context).
        An audit, or an account the kill switch turned into one, publishes no change events.
        """
        notes: list[str] = []
        if enforce and not result.kill_switch:
            notes += self.events.publish(changes_of(result), now=now)
        if self._findings_factory is not None:
            notes += self._publish_findings(result, now)
        return replace(result, notes=(*result.notes, *notes)) if notes else result

    def publish_restore(
        self, account_id: str, user_name: str, key_id: str, *, until: datetime, now: datetime
    ) -> list[str]:
        """``keyrotate restore`` reactivated ``key_id`` (snoozed until ``until``); notes back."""
        change = restore_change(
            Account(account_id, name="", email=""),
            user_name,
            key_id,
            reason="the key was restored (keyrotate restore) after keyrotate deactivated it",
            snoozed_until=until,
        )
        return self.events.publish([change], now=now)

    def _publish_findings(self, result: AccountResult, now: datetime) -> list[str]:
        if self._findings is None and self._findings_factory is not None:
            try:
                self._findings = self._findings_factory()
            except AwsError as exc:  # the caller's identity could not be read
                return [f"Security Hub findings not updated: {exc}"]
        return self._findings.publish(result, now=now) if self._findings else []
