"""``keyrotate doctor``: is every account in scope ready for a run? Reads only, changes nothing.

Per account, in parallel (the run's ``workers``): the member role can be assumed; the actions
the run needs are allowed (IAM's policy simulation on the member role, else read probes); the
read-own-secret policy and the exemption group exist; Secrets Manager (and the KMS key, when
one is set) answer in the home region and every replica region. Once per run: the mail
transport works (SES identity verified; SMTP login with the credentials from SSM, no mail
sent) and the mail templates render.

The deletions of ``keyrotate cleanup --enforce`` (orphaned secrets, member-role.yaml's
DeleteOnlyOrphanedSecrets) are simulated too, as their own check: a warning at most, since
no run deletes a secret.

Each finding is a :class:`Check`: ``ok``, ``warn`` (works, but something is off or could not
be checked) or ``fail`` (the run would fail on it). Write permissions are judged by the mode:
missing ones fail an ``--enforce`` doctor and warn an audit one, whose run makes no write.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from jinja2 import TemplateError

from keyrotate.aws import iam as iam_adapter
from keyrotate.aws import preflight
from keyrotate.aws import secrets as secrets_adapter
from keyrotate.aws import ses as ses_adapter
from keyrotate.aws.organizations import Inventory
from keyrotate.aws.session import retry_config
from keyrotate.domain.errors import AccessDenied, AwsError, KeyrotateError
from keyrotate.domain.kms_keys import key_in_region
from keyrotate.domain.models import Account, Action, ActionKind, Plan, Reason
from keyrotate.domain.orphans import ORPHANED_AT_TAG
from keyrotate.domain.results import AccountResult, ActionResult, Outcome, RunReport, UserResult
from keyrotate.notify.transports import (
    SEND_ERRORS,
    FileTransport,
    NoneTransport,
    SesTransport,
    SmtpTransport,
)
from keyrotate.service.context import RunContext

RUN_WIDE = "-"  # the account column of a check made once per run
PROBE_USER = "keyrotate-doctor-probe"  # a user name for simulation: it need not exist


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Check:
    """One finding: what was checked where, how it went, why, and what to do about it."""

    account_id: str
    check: str
    status: Status
    reason: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        return {**asdict(self), "status": self.status.value}


@dataclass(frozen=True, slots=True)
class DoctorReport:
    mode: str
    checks: tuple[Check, ...]

    @property
    def failed(self) -> bool:
        return any(c.status is Status.FAIL for c in self.checks)

    def counts(self) -> dict[str, int]:
        return {s.value: sum(1 for c in self.checks if c.status is s) for s in Status}

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "ok": not self.failed,
            "counts": self.counts(),
            "checks": [c.to_json() for c in self.checks],
        }


def run_doctor(
    context: RunContext,
    inventory: Inventory,
    *,
    on_account_done: Callable[[str], None] | None = None,
) -> DoctorReport:
    """Every check, accounts in parallel then the run-wide ones; accounts in id order."""
    ordered = sorted(inventory.accounts, key=lambda a: a.account_id)
    by_account: dict[str, list[Check]] = {}
    with ThreadPoolExecutor(max_workers=max(1, context.options.workers)) as pool:
        futures = {a.account_id: pool.submit(_account_checks, context, a) for a in ordered}
        for account_id, future in futures.items():
            by_account[account_id] = future.result()
            if on_account_done is not None:
                on_account_done(account_id)
    checks = [c for a in ordered for c in by_account[a.account_id]]
    # Out of the run too (suspended, excluded, not in the organization): said, not checked.
    checks.extend(
        Check(account.account_id, "scope", Status.WARN, f"not checked: {reason}")
        for account, reason in inventory.skipped
    )
    if context.options.central_account is not None:
        checks.extend(_store_checks(context, context.options.central_account))
    checks.extend(_run_checks(context))
    return DoctorReport(context.settings.mode, tuple(checks))


# -- per account -----------------------------------------------------------------------------
def _account_checks(context: RunContext, account: Account) -> list[Check]:
    account_id, sessions = account.account_id, context.sessions
    try:
        role = _assume(context, account_id)
    except AwsError as exc:
        return [
            Check(
                account_id,
                "role",
                Status.FAIL,
                str(exc).split(". Fix: ")[0],
                f"deploy member-role.yaml in {account_id} and let your principal assume it "
                "(OperatorPrincipalArn, docs/first-run.md), or leave the account out of scope",
            )
        ]
    try:
        checks = [role]
        checks.extend(_permission_checks(context, account_id))
        checks.extend(_directory_checks(context, account_id))
        if context.options.central_account is None:
            checks.extend(_store_checks(context, account_id))
        return checks
    finally:
        sessions.release(account_id)


def _own_account(context: RunContext, account_id: str) -> bool:
    sessions = context.sessions
    return not sessions.assume_in_own_account and account_id == sessions.caller_account_id


def _assume(context: RunContext, account_id: str) -> Check:
    context.sessions.for_account(account_id)
    if _own_account(context, account_id):
        return Check(account_id, "role", Status.OK, "your own account: your own credentials")
    return Check(account_id, "role", Status.OK, f"assumed {context.sessions.role_arn(account_id)}")


def _needed_actions(
    context: RunContext, account_id: str
) -> list[tuple[str, str, dict[str, list[str]]]]:
    """(action, resource, condition context) of every member-role call the run makes."""
    options, partition = context.options, context.sessions.partition
    iam_arn = f"arn:{partition}:iam::{account_id}"
    user = f"{iam_arn}:user{options.managed_user_path}{PROBE_USER}"
    account_wide = {
        "iam:ListUsers",
        "iam:GenerateCredentialReport",
        "iam:GetCredentialReport",
        "iam:GetAccountAuthorizationDetails",
    }
    needed: list[tuple[str, str, dict[str, list[str]]]] = []
    for action in (*iam_adapter.READ_PERMISSIONS, *iam_adapter.WRITE_PERMISSIONS):
        if action in account_wide:
            needed.append((action, "*", {}))
        elif action == "iam:GetGroup":
            needed.append((action, f"{iam_arn}:group/{options.exemption_group}", {}))
        elif action in ("iam:TagUser", "iam:UntagUser"):
            needed.append((action, user, {"aws:TagKeys": ["keyrotate:intent"]}))
        elif action == "iam:AttachUserPolicy":
            policy = f"{iam_arn}:policy/{options.read_policy_name or ''}"
            needed.append((action, user, {"iam:PolicyARN": [policy]}))
        else:
            needed.append((action, user, {}))
    if options.central_account is None:
        secret = _probe_secret(context, account_id)
        for action in (*secrets_adapter.READ_PERMISSIONS, *secrets_adapter.WRITE_PERMISSIONS):
            if action == "secretsmanager:ListSecrets":
                needed.append((action, "*", {}))
            elif action == "secretsmanager:PutResourcePolicy":
                needed.append((action, secret, {"secretsmanager:BlockPublicPolicy": ["true"]}))
            else:
                needed.append((action, secret, {}))
    return needed


def _probe_secret(context: RunContext, account_id: str) -> str:
    """The ARN the probe user's secret would have in the account's own store."""
    options = context.options
    name = options.secret_name(account_id, PROBE_USER)
    region, partition = options.region, context.sessions.partition
    return f"arn:{partition}:secretsmanager:{region}:{account_id}:secret:{name}-AbCdEf"


WRITES = frozenset(iam_adapter.WRITE_PERMISSIONS) | frozenset(secrets_adapter.WRITE_PERMISSIONS)
CLEANUP = frozenset(secrets_adapter.CLEANUP_PERMISSIONS)


def _cleanup_actions(
    context: RunContext, account_id: str
) -> list[tuple[str, str, dict[str, list[str]]]]:
    """What ``keyrotate cleanup --enforce`` calls on an orphan in the account's own store: on
    a secret that carries the orphaned-at tag, as the member role's DeleteOnlyOrphanedSecrets
    statement requires. None in central mode: that store is checked by its own credentials."""
    if context.options.central_account is not None:
        return []
    secret = _probe_secret(context, account_id)
    marked = {f"secretsmanager:ResourceTag/{ORPHANED_AT_TAG}": ["2025-01-01T00:00:00Z"]}
    return [(action, secret, marked) for action in secrets_adapter.CLEANUP_PERMISSIONS]


def _permission_checks(context: RunContext, account_id: str) -> list[Check]:
    """Simulate every action the run needs; read probes when simulation is not available."""
    if _own_account(context, account_id):
        return [_probe_reads(context, account_id, "your own credentials are not simulated")]
    role_arn = context.sessions.role_arn(account_id)
    # One attempt: a simulation that fails is answered by the probes, not by waiting.
    client = context.sessions.for_account(account_id).client(
        "iam", config=retry_config(max_attempts=1, mode="standard")
    )
    # One question per resource and condition context: a handful of calls per account.
    batches: dict[tuple[str, str], tuple[list[str], dict[str, list[str]]]] = {}
    cleanup = _cleanup_actions(context, account_id)
    needed = [*_needed_actions(context, account_id), *cleanup]
    for action, resource, condition in needed:
        key = (resource, repr(sorted(condition.items())))
        batches.setdefault(key, ([], condition))[0].append(action)
    denied: dict[str, str] = {}
    try:
        for (resource, _), (actions, condition) in batches.items():
            for result in preflight.simulate(client, role_arn, actions, resource, condition):
                if not result.allowed:
                    denied[result.action] = result.decision
    except KeyrotateError as exc:
        reason = f"policy simulation unavailable ({exc.code if isinstance(exc, AwsError) else exc})"
        fix = (
            f"grant iam:SimulatePrincipalPolicy on {role_arn} to itself "
            "(member-role.yaml does) to have it checked"
        )
        unchecked = [
            _probe_reads(context, account_id, reason),
            Check(
                account_id,
                "permissions: write",
                Status.WARN,
                f"{reason}: whether the role may change keys and secrets was not checked",
                fix,
            ),
        ]
        if cleanup:
            what = "whether keyrotate cleanup --enforce may delete orphaned secrets"
            unchecked.append(
                Check(account_id, CLEANUP_CHECK, Status.WARN, f"{reason}: {what} was not checked")
            )
        return unchecked
    reads = sorted(a for a in denied if a not in WRITES and a not in CLEANUP)
    writes = sorted(a for a in denied if a in WRITES)
    checks = [
        Check(
            account_id,
            "permissions: read",
            Status.FAIL if reads else Status.OK,
            f"denied: {', '.join(reads)}" if reads else "every read the run makes is allowed",
            "update the member role's stack (member-role.yaml) or the SCP denying them"
            if reads
            else "",
        )
    ]
    write_status = Status.OK
    if writes:
        write_status = Status.FAIL if context.options.enforce else Status.WARN
    checks.append(
        Check(
            account_id,
            "permissions: write",
            write_status,
            f"denied: {', '.join(writes)}" if writes else "every change the run makes is allowed",
            "deploy member-role.yaml with MemberRoleTier=enforce (and ManagedUserPath covering "
            "the users) before an enforce run; an audit run needs none of them"
            if writes
            else "",
        )
    )
    if cleanup:
        checks.append(_cleanup_check(account_id, sorted(a for a in denied if a in CLEANUP)))
    return checks


CLEANUP_CHECK = "permissions: cleanup"


def _cleanup_check(account_id: str, denied: list[str]) -> Check:
    """Deleting orphaned secrets is ``keyrotate cleanup --enforce``'s, never a run's: a role
    that may not is a warning whatever the mode (orphans are still found, reported, marked)."""
    if not denied:
        return Check(
            account_id,
            CLEANUP_CHECK,
            Status.OK,
            "keyrotate cleanup --enforce may delete orphaned secrets (tagged orphaned-at)",
        )
    return Check(
        account_id,
        CLEANUP_CHECK,
        Status.WARN,
        f"denied on a secret tagged {ORPHANED_AT_TAG}: {', '.join(denied)}: keyrotate cleanup "
        "--enforce could not delete orphaned secrets here (runs are not affected)",
        "deploy member-role.yaml with MemberRoleTier=enforce (its DeleteOnlyOrphanedSecrets "
        "statement) before keyrotate cleanup --enforce",
    )


def _probe_reads(context: RunContext, account_id: str, why: str) -> Check:
    try:
        preflight.list_one_user(context.sessions.client(account_id, "iam"))
    except AwsError as exc:
        return Check(
            account_id,
            "permissions: read",
            Status.FAIL,
            str(exc),
            "grant the member role the reads of member-role.yaml",
        )
    return Check(account_id, "permissions: read", Status.OK, f"{why}; the read probes answered")


def _directory_checks(context: RunContext, account_id: str) -> list[Check]:
    options = context.options
    iam = context.sessions.client(account_id, "iam")
    group = options.exemption_group
    policy = options.read_policy_name
    try:
        found = preflight.directory(iam)
        group_found: bool = group in found.groups
        policy_found: bool | None = policy in found.policies if policy else None
    except AccessDenied:
        try:
            group_found = preflight.group_exists(iam, group)
        except AwsError as exc:
            return [Check(account_id, "exemption group", Status.FAIL, str(exc), "")]
        policy_found = None
    checks = [
        Check(account_id, "exemption group", Status.OK, f"{group} exists")
        if group_found
        else Check(
            account_id,
            "exemption group",
            Status.FAIL,
            f"no group {group}: no user here would be exempt by membership",
            "deploy member-role.yaml (it creates the group) or set IAMExemptionGroup to the "
            "group's name",
        )
    ]
    if not policy:
        checks.append(
            Check(
                account_id,
                "read-own-secret policy",
                Status.WARN,
                "ReadSecretPolicyName is empty: users are granted nothing to read their new key",
                "",
            )
        )
    elif policy_found is None:
        checks.append(
            Check(
                account_id,
                "read-own-secret policy",
                Status.WARN,
                "not checked: GetAccountAuthorizationDetails was denied",
                "grant iam:GetAccountAuthorizationDetails to the member role",
            )
        )
    elif policy_found:
        checks.append(Check(account_id, "read-own-secret policy", Status.OK, f"{policy} exists"))
    else:
        checks.append(
            Check(
                account_id,
                "read-own-secret policy",
                Status.FAIL,
                f"no customer-managed policy {policy}: a rotated user could not read its new "
                "key (the grant would fail after the key was stored)",
                "deploy member-role.yaml (it creates the policy) or set ReadSecretPolicyName "
                "to the policy's name",
            )
        )
    return checks


def _store_checks(context: RunContext, store_account: str) -> list[Check]:
    """Secrets Manager, and the KMS key when one is set, in the home and replica regions."""
    options = context.options
    checks: list[Check] = []
    for region in (options.region, *options.replica_regions):
        try:
            client = context.sessions.client(store_account, "secretsmanager", region)
            preflight.list_one_secret(client)
            checks.append(
                Check(store_account, f"secrets {region}", Status.OK, "ListSecrets answered")
            )
        except AwsError as exc:
            checks.append(
                Check(
                    store_account,
                    f"secrets {region}",
                    Status.FAIL,
                    str(exc),
                    "grant secretsmanager:ListSecrets; is Secrets Manager available there?",
                )
            )
        key = key_in_region(options.kms_key_id, region)
        if key:
            checks.append(_key_check(context, store_account, region, key))
    return checks


def _key_check(context: RunContext, account_id: str, region: str, key: str) -> Check:
    name = f"kms {region}"
    try:
        state = preflight.key_state(context.sessions.client(account_id, "kms", region), key)
    except AccessDenied as exc:
        return Check(account_id, name, Status.WARN, f"{key} not described: {exc}", "")
    except AwsError as exc:
        return Check(
            account_id, name, Status.FAIL, f"{key}: {exc}", "create the key (or its replica) there"
        )
    if state != "Enabled":
        return Check(account_id, name, Status.FAIL, f"{key} is {state}", "enable the key")
    return Check(account_id, name, Status.OK, f"{key} is enabled")


# -- once per run ----------------------------------------------------------------------------
def _run_checks(context: RunContext) -> list[Check]:
    try:
        notifier = context.notifier
    except KeyrotateError as exc:  # a template that cannot be read or compiled
        return [
            Check(RUN_WIDE, "mail", Status.WARN, "not checked: the notifier could not be made"),
            Check(
                RUN_WIDE,
                "templates",
                Status.FAIL,
                str(exc),
                "fix the template named by EmailTemplate* (or unset it for the shipped one)",
            ),
        ]
    return [_mail_check(context, notifier.transport), _template_check(context)]


def _mail_check(context: RunContext, transport: object) -> Check:
    settings = context.settings
    if isinstance(transport, NoneTransport):
        return Check(RUN_WIDE, "mail", Status.WARN, "EmailTransport is none: no one is told", "")
    if isinstance(transport, FileTransport):
        return _file_check(transport.folder)
    if isinstance(transport, SesTransport):
        return _ses_check(context, transport.sender)
    if isinstance(transport, SmtpTransport):
        where = f"{settings.smtp_host}:{settings.smtp_port} ({settings.smtp_security})"
        try:
            logged_in = transport.check_login()
        except SEND_ERRORS as exc:
            return Check(
                RUN_WIDE,
                "mail",
                Status.FAIL,
                f"SMTP {where}: {exc.__class__.__name__}: {exc}",
                "check SMTPHost/SMTPPort/SMTPSecurity and the user and password in SSM "
                f"({settings.smtp_user_param_name}, {settings.smtp_password_param_name})",
            )
        done = "logged in" if logged_in else "connected (no login configured)"
        return Check(RUN_WIDE, "mail", Status.OK, f"SMTP {where}: {done}, no mail sent")
    return Check(RUN_WIDE, "mail", Status.WARN, f"{type(transport).__name__}: not checked")


def _file_check(folder: Path) -> Check:
    existing = next((p for p in (folder, *folder.parents) if p.exists()), folder)
    if os.access(existing, os.W_OK):
        return Check(RUN_WIDE, "mail", Status.OK, f"mail is written to {folder}")
    return Check(RUN_WIDE, "mail", Status.FAIL, f"{existing} is not writable", "set MailDir")


def _ses_check(context: RunContext, sender: str) -> Check:
    region = context.settings.effective_ses_region or context.options.region
    domain = sender.rpartition("@")[2]
    try:
        client = ses_adapter.make_client(context.sessions.base, region)
        statuses = preflight.verification_status(client, [sender, domain])
    except AwsError as exc:
        return Check(RUN_WIDE, "mail", Status.FAIL, f"SES {region}: {exc}", "")
    if "Success" in (statuses.get(sender), statuses.get(domain)):
        return Check(RUN_WIDE, "mail", Status.OK, f"SES {region}: {sender} may send")
    found = statuses.get(sender) or statuses.get(domain) or "not verified"
    return Check(
        RUN_WIDE,
        "mail",
        Status.FAIL,
        f"SES {region}: {sender} ({found}): SES would refuse every mail",
        f"verify {sender} or {domain} in SES in {region} (EmailSender, SESRegion)",
    )


def _sample_report(context: RunContext, mode: str) -> RunReport:
    """One account, one user with a rotation and a warning: every part of a mail shows."""
    now = datetime.now(UTC)
    domains = context.settings.allowed_email_domains
    owner = f"owner@{domains[0] if domains else 'example.com'}"
    account = Account("111122223333", "sample", owner)
    rotate = Action(
        ActionKind.ROTATE, "sample-user", "AKIASAMPLE0000000001", Reason.ROTATION_DUE, now
    )
    warn = Action(
        ActionKind.WARN,
        "sample-user",
        "AKIASAMPLE0000000001",
        Reason.UPCOMING,
        now + timedelta(days=7),
        upcoming=ActionKind.DEACTIVATE,
    )
    outcome = Outcome.DONE if mode == "enforce" else Outcome.PLANNED
    user = UserResult(
        "sample-user",
        owner,
        (),
        Plan("sample-user", None, (rotate, warn)),
        (ActionResult(rotate, outcome), ActionResult(warn, Outcome.NOTICE)),
    )
    return RunReport(mode, now, now, (AccountResult(account, (user,)),))


def _template_check(context: RunContext) -> Check:
    notifier = context.notifier
    rendered: list[str] = []
    try:
        for mode in ("audit", "enforce"):
            report = _sample_report(context, mode)
            messages, _ = notifier.owner_messages(
                report.accounts, mode=mode, started=report.started
            )
            if messages:
                rendered.append(mode)
        if notifier.digest_message(_sample_report(context, "enforce"), context.options.policy):
            rendered.append("digest")
    except (KeyrotateError, TemplateError) as exc:  # a template that fails is the finding
        return Check(
            RUN_WIDE,
            "templates",
            Status.FAIL,
            f"{exc.__class__.__name__}: {exc}",
            "fix the template named by EmailTemplate* (or unset it for the shipped one)",
        )
    return Check(RUN_WIDE, "templates", Status.OK, f"rendered with a sample: {', '.join(rendered)}")
