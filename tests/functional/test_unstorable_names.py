"""A user whose name no secret can hold is reported BLOCKED before any key is created.

IAM allows ',' in a user name; Secrets Manager does not in a secret name. A rotation of such
a user would create a key, fail to store it and delete it again, every run. The scan marks
the user unstorable (both scan paths) and the engine blocks its rotation: the emulator's
call counter shows that no key was created and none deleted.

moto writes such a name into the credential report's CSV unquoted, which shifts the row's
columns (the tool then falls back to the per-user scan, as for any unreadable report). The
report path is shown on a report whose name is quoted as CSV requires.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import boto3
import pytest

from keyrotate.aws.iam import Iam
from keyrotate.aws.secrets import SecretStore
from keyrotate.aws.session import AccountSessions
from keyrotate.domain.credential_report import parse_credential_report
from keyrotate.domain.engine import plan
from keyrotate.domain.models import Account, ActionKind, Reason
from keyrotate.service.account import run_account
from keyrotate.service.account_context import AccountContext
from keyrotate.service.scan import scan_with_report
from keyrotate_emulator import EmulatorServer, Strictness
from keyrotate_emulator.seed import KeySpec, SeededKey, UserSpec, seed_users
from tests.run_options import run_options

ACCOUNT = "123456789012"
UNSTORABLE = "svc,batch"
STORABLE = "svc.batch"  # the same age, one legal character away: rotated


def _quoted(report_csv: str, name: str) -> str:
    """The report as CSV writes it: fields holding ``name`` (user, ARN) quoted."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for line in report_csv.splitlines():
        fields = line.replace(name, "\0").split(",")
        writer.writerow([field.replace("\0", name) for field in fields])
    return out.getvalue()


def _seed(now: datetime) -> dict[str, list[SeededKey]]:
    overdue = (KeySpec(age_days=95, active=True, used_days_ago=1),)
    return seed_users(
        "", ACCOUNT, [UserSpec(UNSTORABLE, overdue), UserSpec(STORABLE, overdue)], now
    )


@pytest.fixture
def server(emulator: EmulatorServer) -> EmulatorServer:
    """The shared emulator, empty, as strict as AWS (new keys refused for seconds too)."""
    emulator.strictness = Strictness()
    return emulator


@pytest.mark.parametrize("scan_mode", ["per-user", "auto"])
def test_a_user_with_a_comma_is_blocked_and_no_key_is_created_or_deleted(
    server: EmulatorServer, scan_mode: str
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    seeded = _seed(now)
    server.reset_calls()  # count the run's calls only

    result = run_account(
        Account(ACCOUNT, "management", "owner@example.com"),
        AccountSessions(
            boto3.Session(), "keyrotate-member", region="us-east-1", assume_in_own_account=False
        ),
        run_options(
            dry_run=False, read_policy_name=None, scan_mode=scan_mode, verify_new_keys=False
        ),
        now=now,
        clock=lambda: now,
    )

    assert result.error is None, result.error
    users = {u.user_name: u for u in result.users}
    (blocked,) = users[UNSTORABLE].plan.actions
    assert (blocked.kind, blocked.reason) == (ActionKind.BLOCKED, Reason.UNSTORABLE_NAME)
    assert blocked.key_id == seeded[UNSTORABLE][0].key_id
    assert [a.kind for a in users[STORABLE].plan.changes] == [ActionKind.ROTATE]

    calls = server.calls()
    assert calls.total("iam", "CreateAccessKey") == 1  # the storable user's only
    assert calls.total("iam", "DeleteAccessKey") == 0  # nothing created and undone
    assert calls.total("secretsmanager", "CreateSecret") == 1
    iam = boto3.client("iam")
    keys = iam.list_access_keys(UserName=UNSTORABLE)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [
        (seeded[UNSTORABLE][0].key_id, "Active")
    ]
    assert iam.list_user_tags(UserName=UNSTORABLE)["Tags"] == []  # no intent marker either
    names = [s["Name"] for s in boto3.client("secretsmanager").list_secrets()["SecretList"]]
    assert names == [f"keyrotate/{ACCOUNT}/{STORABLE}"]


def test_the_credential_report_path_marks_the_user_unstorable_too(server: EmulatorServer) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    _seed(now)
    iam = Iam(boto3.client("iam"))
    raw = iam.credential_report()
    text = raw.content.decode() if isinstance(raw.content, bytes) else raw.content
    report = parse_credential_report(_quoted(text, UNSTORABLE), raw.generated)
    assert set(report.users) == {UNSTORABLE, STORABLE}
    options = run_options(dry_run=False, read_policy_name=None, verify_new_keys=False)
    store = SecretStore(boto3.client("secretsmanager"), account_id=ACCOUNT, region="us-east-1")

    account = AccountContext(ACCOUNT, "aws", iam, store, options, lambda: now)

    scanned = scan_with_report(account, report, now=now)

    users = {u.name: u for u in scanned.users}
    assert (users[UNSTORABLE].inputs.storable, users[STORABLE].inputs.storable) == (False, True)
    assert users[UNSTORABLE].needs_keys  # its real keys are read before anything is done
    (blocked,) = plan(users[UNSTORABLE].inputs, options.policy, now=now).actions
    assert (blocked.kind, blocked.reason) == (ActionKind.BLOCKED, Reason.UNSTORABLE_NAME)
