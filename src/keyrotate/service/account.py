"""Run one account: scan, plan every user, execute (enforce, within the run's guardrails)
or not (audit)."""

from __future__ import annotations

import functools
import logging
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from keyrotate.aws.iam import Iam
from keyrotate.aws.secrets import SecretStore
from keyrotate.aws.verify import verify_key
from keyrotate.domain.engine import plan
from keyrotate.domain.errors import AwsError
from keyrotate.domain.exemptions import exemption_notes, scope_exemption
from keyrotate.domain.models import Account, Exemption
from keyrotate.domain.results import AccountResult, UserResult
from keyrotate.service.account_context import AccountContext
from keyrotate.service.cleanup import orphan_notes
from keyrotate.service.execute import audit
from keyrotate.service.fanout import map_bounded
from keyrotate.service.guarded import Guarded, enforce_guarded
from keyrotate.service.guardrails import AccountTurn, RunGuard
from keyrotate.service.options import Clock, RunOptions
from keyrotate.service.scan import AccountScan, ScannedUser, read_keys, scan
from keyrotate.service.snoozes import hand_snoozes
from keyrotate.service.stop import not_started_note
from keyrotate.service.targets import targeted

if TYPE_CHECKING:
    from keyrotate.aws.session import AccountSessions

log = logging.getLogger(__name__)


def open_account(
    account_id: str,
    sessions: AccountSessions,
    options: RunOptions,
    clock: Clock,
    *,
    exemption: Exemption | None = None,
) -> AccountContext[Iam, SecretStore]:
    """One IAM client and one secret store per account, shared by all its users.

    ``exemption``: the account's own (:func:`account_exemption`), if any."""
    store_account = options.central_account or account_id
    secrets_client = sessions.client(store_account, "secretsmanager", options.region)
    return AccountContext(
        account_id=account_id,
        partition=sessions.partition,
        iam=Iam(sessions.client(account_id, "iam")),
        secrets=SecretStore(
            secrets_client,
            account_id=store_account,
            region=options.region,
            kms_key_id=options.kms_key_id,
            replica_regions=options.replica_regions,
        ),
        options=options,
        clock=clock,
        verifier=functools.partial(verify_key, profile=sessions.profile),
        exemption=exemption,
    )


def account_exemption(account: Account, options: RunOptions) -> Exemption | None:
    """The account's exemption by id or OU (AccountExemptions), resolved here from its place
    in the organization so that the engine only ever sees a user's exemption."""
    return scope_exemption(options.account_exemptions, account)


def read_account(account: AccountContext[Iam, SecretStore], *, now: datetime) -> AccountScan:
    """Scan, then read the real keys of every user the report could not settle.

    All reads happen before any change, so an AWS failure while reading fails the account
    with nothing half done. In enforce mode those reads include fresh last use (SPEC rule 7):
    the plan that gets executed never rests on the credential report alone.
    """
    scanned = targeted(scan(account, now=now), account.account_id, account.options)
    if not any(u.needs_keys for u in scanned.users):
        return scanned
    fresh = account.options.enforce

    def read(user: ScannedUser) -> ScannedUser:
        return read_keys(account, user, fresh_last_used=fresh) if user.needs_keys else user

    users = map_bounded(read, scanned.users, account.options.user_workers)
    return replace(scanned, users=tuple(users))


def run_account(
    account: Account,
    sessions: AccountSessions,
    options: RunOptions,
    *,
    now: datetime,
    clock: Clock,
    guard: RunGuard | None = None,
) -> AccountResult:
    """Never raises for an AWS failure: the account is recorded as failed, with the reason.

    ``guard``: the run's guardrails, shared by its accounts (without one, the account is a
    run of its own: the caps and the breaker hold, no kill switch is read). The account's
    session and clients are released when it is done (unless it is the central secrets
    account, which every account uses): memory follows the accounts in flight, not the size
    of the organization.
    """
    guard = guard if guard is not None else RunGuard.for_run(options)
    try:
        with guard.budget.turn(account.account_id) as turn:  # passed on if not taken
            stopped = guard.stop.reason()
            if stopped is not None:  # the run is out of time or interrupted: not even a read
                return AccountResult(account, skipped=not_started_note(stopped), cut_short=True)
            result = _run_account(
                account, sessions, options, now=now, clock=clock, guard=guard, turn=turn
            )
        log.debug("account %s done: %s", account.account_id, result.status)
        return result
    finally:
        if account.account_id != options.central_account:
            sessions.release(account.account_id)


def _run_account(
    account: Account,
    sessions: AccountSessions,
    options: RunOptions,
    *,
    now: datetime,
    clock: Clock,
    guard: RunGuard,
    turn: AccountTurn,
) -> AccountResult:
    # Read before anything else of the account: an operator who flips the switch stops every
    # account that has not started yet.
    halted = guard.kill_switch_note() if options.enforce else None
    if halted is not None:
        log.warning("account %s: %s", account.account_id, halted)
        options = replace(options, enforce=False)
    first_notes = (halted,) if halted is not None else ()
    try:
        context = open_account(
            account.account_id,
            sessions,
            options,
            clock,
            exemption=account_exemption(account, options),
        )
        scanned = read_account(context, now=now)
    except AwsError as exc:
        log.warning("account %s failed: %s", account.account_id, exc)
        return AccountResult(
            account, error=str(exc), notes=first_notes, kill_switch=halted is not None
        )
    plans = {u.name: plan(u.inputs, options.policy, now=now) for u in scanned.users}
    if options.enforce:
        guarded = enforce_guarded(scanned.users, plans, context, guard, turn)
    else:
        guarded = Guarded({name: audit(p) for name, p in plans.items()})
    writing = options.enforce and not guarded.breaker_tripped  # no write once it tripped
    snoozed = hand_snoozes(plans, context if writing else None)
    orphaned = orphan_notes(context, scanned, now, write=writing)
    users = tuple(
        UserResult(
            u.name,
            u.inputs.owner,
            u.keys,
            plans[u.name],
            guarded.results[u.name],
            u.inputs,
            exemption=u.inputs.exemption,
            owed=guarded.owed.get(u.name),
        )
        for u in scanned.users
    )
    notes = (
        *first_notes,
        *scanned.notes,
        *exemption_notes(
            (u.inputs for u in scanned.users),
            options.exemption_tag,
            now=now,
            warn_before=options.policy.warn_before,
        ),
        *guarded.notes,
        *snoozed,
        *orphaned,
    )
    return AccountResult(
        account,
        users,
        scan_path=scanned.path,
        notes=notes,
        kill_switch=halted is not None,
        breaker_tripped=guarded.breaker_tripped,
        cut_short=guarded.cut_short,
    )
