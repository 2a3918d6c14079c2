"""Read-only probes for ``keyrotate doctor``: is an account ready for a run? Changes nothing.

Each probe is one cheap read (a page of one item where the API pages) whose answer, or whose
refusal, says whether the run's own call would work. Simulation (``SimulatePrincipalPolicy``)
asks IAM what it would decide for the member role without making the call at all, which is
the only way to learn whether a *write* is allowed without writing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.parsers import ResponseParserError

from keyrotate.aws.errors import translate
from keyrotate.domain.errors import AwsError

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_ses import SESClient

# iam:SimulatePrincipalPolicy is granted to the member role on itself (member-role.yaml);
# the others are reads the run makes anyway, or the operator's own (SES, KMS).
PERMISSIONS: tuple[str, ...] = (
    "iam:SimulatePrincipalPolicy",
    "iam:GetAccountAuthorizationDetails",
    "iam:GetGroup",
    "iam:ListUsers",
    "secretsmanager:ListSecrets",
    "kms:DescribeKey",
    "ses:GetIdentityVerificationAttributes",
)


@dataclass(frozen=True, slots=True)
class Simulated:
    """What IAM would decide for one action: ``allowed``, and its words when not."""

    action: str
    allowed: bool
    decision: str


def simulate(
    client: IAMClient,
    principal_arn: str,
    actions: Sequence[str],
    resource_arn: str,
    context: Mapping[str, Sequence[str]] | None = None,
) -> list[Simulated]:
    """IAM's decision for ``principal_arn`` doing each of ``actions`` on ``resource_arn``.

    ``context``: condition keys with the values the run's calls would carry (a tag key, the
    policy being attached), so conditioned statements are judged as they would be.
    """
    entries: list[Any] = [
        {"ContextKeyName": key, "ContextKeyValues": list(values), "ContextKeyType": "stringList"}
        for key, values in (context or {}).items()
    ]
    decisions: dict[str, str] = {}
    try:
        with translate("iam:SimulatePrincipalPolicy"):
            pages = client.get_paginator("simulate_principal_policy").paginate(
                PolicySourceArn=principal_arn,
                ActionNames=list(actions),
                ResourceArns=[resource_arn],
                ContextEntries=entries,
            )
            for page in pages:
                for result in page.get("EvaluationResults", []):
                    decisions[result["EvalActionName"]] = str(result["EvalDecision"])
    except ResponseParserError as exc:  # an endpoint without the API (the emulator: HTML 500)
        raise AwsError("iam:SimulatePrincipalPolicy", "Unsupported", "no answer") from exc
    return [
        Simulated(a, decisions.get(a) == "allowed", decisions.get(a, "implicitDeny"))
        for a in actions
    ]


@dataclass(frozen=True, slots=True)
class Directory:
    """The account's group names and customer-managed policy names."""

    groups: frozenset[str]
    policies: frozenset[str]


def directory(client: IAMClient) -> Directory:
    """Group and customer-managed policy names, from GetAccountAuthorizationDetails (the
    call the run's scan makes; no user is read)."""
    groups: set[str] = set()
    policies: set[str] = set()
    with translate("iam:GetAccountAuthorizationDetails"):
        pages = client.get_paginator("get_account_authorization_details").paginate(
            Filter=["Group", "LocalManagedPolicy"]
        )
        for page in pages:
            groups.update(g["GroupName"] for g in page.get("GroupDetailList", []))
            # The name from the ARN when the answer lacks it (the emulator's does: moto 5.2)
            policies.update(
                p.get("PolicyName") or p["Arn"].rsplit("/", 1)[-1] for p in page.get("Policies", [])
            )
    return Directory(frozenset(groups), frozenset(policies))


def group_exists(client: IAMClient, group_name: str) -> bool:
    """Whether the group exists (GetGroup, one member at most)."""
    with translate("iam:GetGroup"):
        try:
            client.get_group(GroupName=group_name, MaxItems=1)
        except client.exceptions.NoSuchEntityException:
            return False
    return True


def list_one_user(client: IAMClient) -> None:
    with translate("iam:ListUsers"):
        client.list_users(MaxItems=1)


def list_one_secret(client: SecretsManagerClient) -> None:
    with translate("secretsmanager:ListSecrets"):
        client.list_secrets(MaxResults=1)


def key_state(client: KMSClient, key_id: str) -> str:
    """The KMS key's state (``Enabled``, ``Disabled``, ``PendingDeletion``, ...)."""
    with translate("kms:DescribeKey"):
        metadata = client.describe_key(KeyId=key_id)["KeyMetadata"]
    return str(metadata.get("KeyState") or ("Enabled" if metadata.get("Enabled") else "Disabled"))


def verification_status(client: SESClient, identities: Sequence[str]) -> dict[str, str]:
    """SES's verification status of each identity it knows (absent: never asked to verify)."""
    with translate("ses:GetIdentityVerificationAttributes"):
        response = client.get_identity_verification_attributes(Identities=list(identities))
    return {
        identity: str(attributes.get("VerificationStatus", ""))
        for identity, attributes in response.get("VerificationAttributes", {}).items()
    }
