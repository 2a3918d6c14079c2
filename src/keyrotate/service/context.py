"""A run's wiring, made once from the validated settings.

The CLI, the demo and each of the three Lambda steps start from
:meth:`RunContext.from_settings`: the same sessions, options, notifier and S3 client, made
the same way, whoever runs. Building a context makes no AWS call.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from keyrotate.aws import ssm
from keyrotate.aws.organizations import (
    Inventory,
    inventory_client,
    inventory_principal,
    list_accounts,
)
from keyrotate.aws.s3 import make_client
from keyrotate.aws.session import AccountSessions, base_session, role_session_name
from keyrotate.notify import Notifier, NotifyOptions
from keyrotate.service.guardrails import ParameterReader, RunGuard
from keyrotate.service.options import Clock, RunOptions, utc_now
from keyrotate.service.publishing import RunPublisher
from keyrotate.service.stop import RunStop

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from keyrotate.config import Settings
    from keyrotate.domain.results import AccountResult

DEFAULT_REGION = "us-east-1"
# A run outside Step Functions has no execution name: CloudTrail shows keyrotate-run.
LOCAL_RUN_ID = "run"


class RunContext:
    """The connections and options of one run, shared by every account of it.

    The notifier and the S3 client are made when first asked for: the inventory step never
    mails, and its role may not read the operator's template overrides. Every caller that
    can change a key asks for the notifier before the first change, so a template that
    cannot be read or compiled stops the run before anything is done (the mail settings
    themselves were checked when the settings loaded).
    """

    def __init__(
        self,
        settings: Settings,
        run_id: str,
        sessions: AccountSessions,
        options: RunOptions,
        *,
        clock: Clock = utc_now,
        notifier: Notifier | None = None,
        stop: RunStop | None = None,
    ) -> None:
        self.settings = settings
        self.run_id = run_id  # the Step Functions execution name, or LOCAL_RUN_ID
        self.sessions = sessions
        self.options = options
        self.clock = clock
        self._notifier = notifier
        # The run's deadline and interrupt (keyrotate.service.stop): set by the CLI's
        # --time-budget and signal handlers, and by the rotate-account Lambda's remaining time.
        self.stop = stop if stop is not None else RunStop()

    @classmethod
    def from_settings(
        cls, settings: Settings, run_id: str, *, clock: Clock = utc_now
    ) -> RunContext:
        """Sessions (the caller's own, and the member roles by account), then the options,
        checked against the home region the sessions settled on."""
        base = base_session(settings.profile, settings.region)
        region = settings.region or base.region_name or DEFAULT_REGION
        sessions = AccountSessions(
            base,
            settings.iam_role_name,
            region=region,
            session_name=role_session_name(run_id, settings.session_name),
            external_id=settings.external_id,
            assume_in_own_account=False,
        )
        options = RunOptions.from_settings(settings, region)
        return cls(settings, run_id, sessions, options, clock=clock)

    @property
    def notifier(self) -> Notifier:
        """Templates read and transport chosen, once (``InputError`` naming a bad template)."""
        if self._notifier is None:
            options = replace(
                notify_options_from(self.settings),
                secret_name_format=self.options.secret_name_format,
                secrets_region=self.options.region,
            )
            self._notifier = Notifier.from_options(
                options, self.sessions.base, policy=self.options.policy
            )
        return self._notifier

    @functools.cached_property
    def s3(self) -> S3Client:
        """The run's S3 client: the report bucket and the Distributed Map's result files."""
        return make_client(self.sessions.base, self.settings.region)

    @functools.cached_property
    def publisher(self) -> RunPublisher:
        """Events and findings of each account (off unless configured; no call when made)."""
        return RunPublisher.from_settings(
            self.settings, self.sessions, region=self.options.region, run_id=self.run_id
        )

    def publish(self, result: AccountResult) -> AccountResult:
        """Publish one account's changes; what could not be published becomes its notes.

        Called by every caller of ``run_account``, one account at a time (never from the
        account threads: clients are made here on first use).
        """
        return self.publisher.publish_account(
            result, enforce=self.options.enforce, now=self.clock()
        )

    def guard(self, account_ids: Iterable[str] = ()) -> RunGuard:
        """The run's guardrails for ``account_ids`` (their budget is granted in id order).

        The kill switch is read with the run's own credentials, in the home region, and only
        in enforce mode. Its client is made here, before any account's thread starts: making
        clients from one session is not thread-safe.
        """
        reader: ParameterReader | None = None
        if self.options.enforce and self.options.kill_switch_parameter:
            client = ssm.make_client(self.sessions.base, self.options.region)

            def reader(name: str) -> str | None:
                return ssm.read_parameter(name, client=client)

        return RunGuard.for_run(self.options, account_ids, reader, self.stop)

    def list_inventory(self) -> Inventory:
        """The accounts in scope, through OrgListRole when one is set (no change anywhere)."""
        settings, sessions = self.settings, self.sessions
        client = inventory_client(
            sessions.base, settings.org_list_account, settings.org_list_role, sessions
        )
        return list_accounts(
            client,
            ou_ids=settings.organizational_units,
            include=settings.include_accounts,
            exclude=settings.exclude_accounts,
            principal=inventory_principal(
                settings.org_list_account, settings.org_list_role, sessions
            ),
            exempt_ous=[e.target for e in settings.account_exemptions if e.kind == "ou"],
        )


def notify_options_from(settings: Settings) -> NotifyOptions:
    return NotifyOptions(
        admin_email_address=settings.admin_email_address or "",
        email_transport=settings.email_transport,
        email_sender=settings.email_sender or "",
        ses_region=settings.effective_ses_region,
        smtp_host=settings.smtp_host or "",
        smtp_port=settings.smtp_port,
        smtp_security=settings.smtp_security,
        smtp_user_param_name=settings.smtp_user_param_name or "",
        smtp_password_param_name=settings.smtp_password_param_name or "",
        mail_dir=settings.mail_dir,
        email_template_audit=settings.email_template_audit or "",
        email_template_enforce=settings.email_template_enforce or "",
        email_template_digest=settings.email_template_digest or "",
        email_footer=settings.email_footer,
        allowed_email_domains=settings.allowed_email_domains,
        template_bucket_owner=settings.template_bucket_owner or "",
    )
