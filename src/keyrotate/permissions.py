"""What each deployed principal needs, composed from the adapters' ``PERMISSIONS`` tuples.

Each adapter in :mod:`keyrotate.aws` declares the IAM actions it calls beside the calls; this
module says which adapters each principal of ``deploy/`` uses. ``tests/unit/test_permissions``
checks that every role in the templates grants exactly these actions, no more, no less: in
the enforce tier (``ROLES``) and in the audit tier (``AUDIT_ROLES``: ``DryRunFlag`` "True",
member-role.yaml's ``MemberRoleTier`` "audit"), which grants none of ``WRITES``.
"""

from __future__ import annotations

from collections.abc import Iterable

from keyrotate.aws import (
    events,
    iam,
    organizations,
    preflight,
    s3,
    s3_objects,
    secrets,
    securityhub,
    ses,
    session,
    ssm,
)


def _declared(permissions: Iterable[str], *actions: str) -> frozenset[str]:
    """``actions`` out of an adapter's ``permissions``: a principal that uses only part of it."""
    missing = set(actions) - set(permissions)
    if missing:
        raise ValueError(f"not declared by the adapter: {sorted(missing)}")
    return frozenset(actions)


# Every Lambda function writes its logs and reads its environment / objects under the stack's
# data key. Not an adapter's call: the runtime's.
FUNCTION_RUNTIME = frozenset(
    {"logs:CreateLogStream", "logs:PutLogEvents", "kms:Decrypt", "kms:GenerateDataKey"}
)

ASSUME_ROLE = _declared(session.PERMISSIONS, "sts:AssumeRole")
MAIL = frozenset(ses.PERMISSIONS) | frozenset(ssm.PERMISSIONS)  # SES, or SMTP via SSM
# The kill switch, read before each account in enforce mode only (a String: no decryption).
KILL_SWITCH = _declared(ssm.PERMISSIONS, "ssm:GetParameter")

# Every action by which keyrotate changes a user, a key, a tag or a secret: what an audit
# never needs and its tier never grants (nor the KMS use that storing a secret implies;
# kms:Decrypt itself is also the functions' runtime need, for their own data key).
WRITES = (
    frozenset(iam.WRITE_PERMISSIONS)
    | frozenset(secrets.WRITE_PERMISSIONS)
    | frozenset(secrets.CLEANUP_PERMISSIONS)
)

# member-role.yaml: the role assumed in every account (scan, rotate, store in member mode);
# the KMS actions only with MemberSecretsKmsKeyAlias (aws/secretsmanager needs no grant).
# keyrotate doctor simulates the role's own permissions (iam:SimulatePrincipalPolicy) and
# describes the member key (kms:DescribeKey, only with MemberSecretsKmsKeyAlias).
MEMBER_ROLE_AUDIT = (
    frozenset(iam.READ_PERMISSIONS)
    | frozenset(secrets.READ_PERMISSIONS)
    | _declared(preflight.PERMISSIONS, "iam:SimulatePrincipalPolicy", "kms:DescribeKey")
)
# (WRITES includes `keyrotate cleanup --enforce`'s DeleteSecret: member mode's secrets live
# here; the template grants it only on secrets a run marked orphaned.)
MEMBER_ROLE = MEMBER_ROLE_AUDIT | WRITES | frozenset(secrets.KMS_PERMISSIONS)

# org-list-role.yaml: the role that lists the organization's accounts
ORG_LIST_ROLE = frozenset(organizations.PERMISSIONS)

# main.yaml: the functions' execution roles
INVENTORY_FUNCTION = (
    FUNCTION_RUNTIME | ASSUME_ROLE | _declared(s3_objects.PERMISSIONS, "s3:PutObject")
)
ROTATE_ACCOUNT_FUNCTION_AUDIT = (
    FUNCTION_RUNTIME
    | ASSUME_ROLE
    | _declared(s3_objects.PERMISSIONS, "s3:PutObject")  # the account's detail document
    | frozenset(s3.PERMISSIONS)  # operator's template overrides
    | frozenset(secrets.READ_PERMISSIONS)  # central mode: the state of the central secrets
    | MAIL
    | frozenset(securityhub.PERMISSIONS)  # SecurityHubFindings: audits report findings too
)
# Central mode: secrets live in the deployment account, written by this role.
ROTATE_ACCOUNT_FUNCTION = (
    ROTATE_ACCOUNT_FUNCTION_AUDIT
    | frozenset(secrets.WRITE_PERMISSIONS)
    | frozenset(secrets.KMS_PERMISSIONS)
    | KILL_SWITCH
    | frozenset(events.PERMISSIONS)  # EventBusName: change events, enforce runs only
)
DIGEST_FUNCTION = (
    FUNCTION_RUNTIME | frozenset(s3_objects.PERMISSIONS) | frozenset(s3.PERMISSIONS) | MAIL
)

# Role logical id in its template -> what it needs (enforce tier: the widest grant).
ROLES: dict[tuple[str, str], frozenset[str]] = {
    ("member-role.yaml", "MemberRole"): MEMBER_ROLE,
    ("org-list-role.yaml", "OrgListRoleResource"): ORG_LIST_ROLE,
    ("main.yaml", "InventoryRole"): INVENTORY_FUNCTION,
    ("main.yaml", "RotationRole"): ROTATE_ACCOUNT_FUNCTION,
    ("main.yaml", "DigestRole"): DIGEST_FUNCTION,
}

# The same roles as deployed for audit mode: reads, reports and mail, no change anywhere.
AUDIT_ROLES: dict[tuple[str, str], frozenset[str]] = {
    **ROLES,
    ("member-role.yaml", "MemberRole"): MEMBER_ROLE_AUDIT,
    ("main.yaml", "RotationRole"): ROTATE_ACCOUNT_FUNCTION_AUDIT,
}
