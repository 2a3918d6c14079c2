"""Security Hub findings (ASFF) read back from the emulator: raised by an audit for every key
past due or held, archived by the enforce run that fixed them, kept while the hold lasts.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from keyrotate.aws.securityhub import product_arn
from keyrotate_emulator import EmulatorServer, Strictness
from keyrotate_emulator.demo import ROLE_NAME
from keyrotate_emulator.seed import MANAGEMENT_ACCOUNT_ID

from .org_support import run_cli
from .test_change_events import USERS, _organization

ACCOUNT = MANAGEMENT_ACCOUNT_ID
PRODUCT = f"arn:aws:securityhub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/default"


def _findings() -> dict[str, dict[str, Any]]:
    found = boto3.client("securityhub").get_findings()["Findings"]
    return {f["ProductFields"]["keyrotate/user_name"]: f for f in found}


def _run(*flags: str) -> None:
    env = {"IAMRoleName": ROLE_NAME, "SecurityHubFindings": "true"}
    run = run_cli(*flags, env=env)
    assert run.exit_code == 0, run.stderr
    (account,) = run.report["accounts"]
    assert not [n for n in account["notes"] if "Security Hub" in n]


def test_an_audit_raises_findings_and_the_enforce_run_that_fixes_them_archives_them(
    moto_endpoint: str,
) -> None:
    keys = _organization(moto_endpoint)
    boto3.client("securityhub").enable_security_hub()
    _run()  # audit: every change is due and not made
    raised = _findings()
    assert set(raised) == {u.name for u in USERS}
    assert {f["RecordState"] for f in raised.values()} == {"ACTIVE"}
    assert {f["ProductArn"] for f in raised.values()} == {PRODUCT}
    assert {f["AwsAccountId"] for f in raised.values()} == {ACCOUNT}
    overdue = raised["svc-rotate"]
    assert overdue["Title"] == "IAM access key overdue for rotate"
    assert overdue["Severity"]["Label"] == "HIGH"
    assert overdue["Id"] == f"keyrotate/{ACCOUNT}/svc-rotate/{keys['svc-rotate'][0]}/overdue"
    (resource,) = overdue["Resources"]
    assert resource["Type"] == "AwsIamAccessKey"
    assert resource["Id"] == keys["svc-rotate"][0]
    assert resource["Details"]["AwsIamAccessKey"]["PrincipalName"] == "svc-rotate"
    assert raised["svc-gone"]["Severity"]["Label"] == "MEDIUM"  # an inactive key
    held = raised["svc-stuck"]
    assert held["Title"] == "IAM access key held: still in use after its replacement"
    assert held["Compliance"]["Status"] == "FAILED"

    _run("--enforce")
    after = _findings()
    for fixed in ("svc-rotate", "svc-unused", "svc-gone"):
        assert after[fixed]["RecordState"] == "ARCHIVED", fixed
        assert after[fixed]["Compliance"]["Status"] == "PASSED", fixed
    still = after["svc-stuck"]
    assert still["RecordState"] == "ACTIVE"
    assert still["CreatedAt"] == held["CreatedAt"]  # one finding, updated
    assert still["UpdatedAt"] >= held["UpdatedAt"]

    # Nothing secret in any finding.
    secret = boto3.client("secretsmanager").get_secret_value(
        SecretId=f"keyrotate/{ACCOUNT}/svc-rotate"
    )
    leaked = json.loads(secret["SecretString"])["SecretAccessKey"] in json.dumps(after)
    assert not leaked  # a bool: a failure must not print the key


def test_findings_stay_off_unless_asked_for(moto_endpoint: str) -> None:
    _organization(moto_endpoint)
    boto3.client("securityhub").enable_security_hub()
    run = run_cli(env={"IAMRoleName": ROLE_NAME})
    assert run.exit_code == 0, run.stderr
    assert boto3.client("securityhub").get_findings()["Findings"] == []


def _finding(about: str, product_account: str) -> dict[str, Any]:
    return {
        "SchemaVersion": "2018-10-08",
        "Id": f"probe/{about}",
        "ProductArn": product_arn("aws", "us-east-1", product_account),
        "GeneratorId": "probe",
        "AwsAccountId": about,
        "Types": ["Software and Configuration Checks"],
        "CreatedAt": "2026-05-01T00:00:00Z",
        "UpdatedAt": "2026-05-01T00:00:00Z",
        "Severity": {"Label": "LOW"},
        "Title": "probe",
        "Description": "probe",
        "Resources": [{"Type": "Other", "Id": "probe"}],
    }


def test_the_emulator_refuses_a_finding_about_another_account_as_aws_does(
    moto_endpoint: str, emulator_server: EmulatorServer
) -> None:
    hub = boto3.client("securityhub")
    other = "210987654321"
    for finding in (_finding(other, ACCOUNT), _finding(ACCOUNT, other)):
        with pytest.raises(ClientError) as refused:
            hub.batch_import_findings(Findings=[finding])
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert hub.batch_import_findings(Findings=[_finding(ACCOUNT, ACCOUNT)])["SuccessCount"] == 1
    emulator_server.strictness = Strictness(securityhub_finding_account=False)
    assert hub.batch_import_findings(Findings=[_finding(other, ACCOUNT)])["SuccessCount"] == 1
