"""The member role may delete a secret only as ``keyrotate cleanup --enforce`` does: one a run
marked orphaned, into the recovery window. moto evaluates no condition keys, so the
statement's conditions are pinned here (as tests/unit/test_iam_fences.py does for the others).
"""

from __future__ import annotations

from typing import Any

from keyrotate.aws import secrets
from keyrotate.domain.orphans import ORPHANED_AT_TAG
from tests.unit.test_permissions import AUDIT_PARAMETERS, statements_of


def _deleting(parameters: dict[str, str] | None = None) -> list[dict[str, Any]]:
    found = statements_of("member-role.yaml", "MemberRole", parameters)
    return [
        s
        for s in found
        if s["Effect"] == "Allow" and set(secrets.CLEANUP_PERMISSIONS) & set(_as_list(s["Action"]))
    ]


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def test_deleting_a_secret_needs_the_orphaned_mark_and_a_recovery_window() -> None:
    (statement,) = _deleting()
    assert set(_as_list(statement["Action"])) == set(secrets.CLEANUP_PERMISSIONS)
    condition = statement["Condition"]
    assert condition["Null"] == {f"secretsmanager:ResourceTag/{ORPHANED_AT_TAG}": "false"}
    assert condition["BoolIfExists"] == {"secretsmanager:ForceDeleteWithoutRecovery": "false"}
    assert ":secret:keyrotate/" in str(statement["Resource"])


def test_the_audit_tier_may_delete_nothing() -> None:
    assert _deleting(AUDIT_PARAMETERS["member-role.yaml"]) == []
