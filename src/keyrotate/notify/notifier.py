"""Build the mails of a run and send them: owners first, then the admin digest."""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from keyrotate.domain.models import ActionKind
from keyrotate.domain.policy import RotationPolicy
from keyrotate.domain.results import AccountResult, NotificationResult, Outcome, RunReport
from keyrotate.domain.summary import RunSummary
from keyrotate.notify.content import ADMIN, Audience, digest, owner_audiences
from keyrotate.notify.guidance import Guide
from keyrotate.notify.message import Message, compose
from keyrotate.notify.options import NotifyOptions
from keyrotate.notify.render import Templates
from keyrotate.notify.transports import NoneTransport, Transport, build_transport, send_all

if TYPE_CHECKING:
    from boto3.session import Session


def _owner_context(
    audience: Audience, mode: str, started: datetime, footer: str, contact: str
) -> dict[str, Any]:
    items = audience.items
    return {
        "contact": contact,
        "mode": mode,
        "role": audience.role,
        "recipient": audience.recipient,
        "accounts": audience.accounts,
        "changes": sum(1 for i in items if ActionKind(i.kind).changes_keys),
        "failures": sum(1 for i in items if i.outcome == Outcome.FAILED.value),
        "notices": sum(1 for i in items if not ActionKind(i.kind).changes_keys),
        "started": started,
        "footer": footer,
    }


class Notifier:
    """Templates, transport and options, checked once, used for every mail of a run.

    Make it at start-up (``Notifier.from_options``) so a bad template or transport setting
    fails before any key is touched.
    """

    def __init__(
        self,
        options: NotifyOptions,
        templates: Templates,
        transport: Transport,
        *,
        attempts: int = 3,
        backoff_seconds: float = 0.5,
        policy: RotationPolicy | None = None,
    ) -> None:
        self.options = options
        # The owner mails replay the engine under it to say what comes next, and when.
        self.policy = policy
        self.templates = templates
        self.transport = transport
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds

    def _send(self, messages: Iterable[Message]) -> tuple[NotificationResult, ...]:
        return send_all(
            messages, self.transport, self.attempts, backoff_seconds=self.backoff_seconds
        )

    @classmethod
    def from_options(
        cls,
        options: NotifyOptions,
        session: Session | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        policy: RotationPolicy | None = None,
    ) -> Notifier:
        return cls(
            options,
            Templates.load(options, session),
            build_transport(options, session, ssl_context=ssl_context),
            policy=policy,
        )

    @property
    def enabled(self) -> bool:
        return not isinstance(self.transport, NoneTransport)

    def guide(self, policy: RotationPolicy | None = None) -> Guide:
        options = self.options
        return Guide(
            policy=policy or self.policy,
            secret_name_format=options.secret_name_format,
            secrets_region=options.secrets_region,
            contact=options.admin_email_address,
        )

    def owner_messages(
        self,
        accounts: Iterable[AccountResult],
        *,
        mode: str,
        started: datetime,
        policy: RotationPolicy | None = None,
    ) -> tuple[list[Message], tuple[NotificationResult, ...]]:
        """One mail per owner address, and the owners whose address is unusable."""
        options = self.options
        audiences, invalid = owner_audiences(
            accounts, options.allowed_email_domains, self.guide(policy), started
        )
        kind = "enforce" if mode == "enforce" else "audit"
        messages = [
            compose(
                self.templates.render(
                    kind,
                    _owner_context(
                        a, mode, started, options.email_footer, options.admin_email_address
                    ),
                ),
                sender=self.options.email_sender,
                recipient=a.recipient,
                role=a.role,
                account_id=a.account_id,
                date=started,
            )
            for a in audiences
        ]
        return messages, invalid

    def digest_message(
        self,
        report: RunReport,
        policy: RotationPolicy,
        failed_notifications: Iterable[NotificationResult] = (),
        summaries: Mapping[str, RunSummary] | None = None,
    ) -> Message | None:
        """The admin digest, or ``None`` when no admin address is set.

        ``summaries``: accounts' counts already made, by account id (see :func:`digest`).
        """
        if not self.options.admin_email_address:
            return None
        context = {
            "mode": report.mode,
            "role": ADMIN,
            "recipient": self.options.admin_email_address,
            "digest": digest(report, policy, failed_notifications, summaries),
            "rotate_after_days": policy.rotate_after_days,
            "started": report.started,
            "finished": report.finished,
            "footer": self.options.email_footer,
        }
        return compose(
            self.templates.render("digest", context),
            sender=self.options.email_sender,
            recipient=self.options.admin_email_address,
            role=ADMIN,
            account_id=None,
            date=report.finished,
        )

    def notify_account(
        self, account: AccountResult, *, mode: str, started: datetime
    ) -> tuple[NotificationResult, ...]:
        """Mail the account's owner and the owners of its users (the per-account Lambda)."""
        return self._notify_owners([account], mode=mode, started=started)

    def _notify_owners(
        self,
        accounts: Iterable[AccountResult],
        *,
        mode: str,
        started: datetime,
        policy: RotationPolicy | None = None,
    ) -> tuple[NotificationResult, ...]:
        if not self.enabled:
            return ()
        messages, invalid = self.owner_messages(accounts, mode=mode, started=started, policy=policy)
        return self._send(messages) + invalid

    def notify_admin(
        self,
        report: RunReport,
        policy: RotationPolicy,
        failed_notifications: Iterable[NotificationResult] = (),
        summaries: Mapping[str, RunSummary] | None = None,
    ) -> tuple[NotificationResult, ...]:
        """Send the admin digest only (the digest Lambda)."""
        if not self.enabled:
            return ()
        message = self.digest_message(report, policy, failed_notifications, summaries)
        return self._send([message]) if message else ()

    def notify_run(
        self,
        report: RunReport,
        policy: RotationPolicy,
        summaries: Mapping[str, RunSummary] | None = None,
    ) -> tuple[NotificationResult, ...]:
        """Owners first, then the digest, which lists every failed notification so far.

        ``summaries``: the accounts' counts by account id, when the run has made them.
        """
        owners = self._notify_owners(
            report.accounts, mode=report.mode, started=report.started, policy=policy
        )
        failed = [n for n in (*report.notifications, *owners) if not n.sent]
        return owners + self.notify_admin(report, policy, failed, summaries)
