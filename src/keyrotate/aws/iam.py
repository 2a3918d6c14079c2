"""IAM adapter: users, their keys, tags and groups in one account. Knows no policy.

Every call is paginated where IAM pages (at most 100 items per page on real IAM) and every
botocore error is translated into :mod:`keyrotate.domain.errors` on the way out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from keyrotate.aws.errors import translate
from keyrotate.domain.errors import AwsError
from keyrotate.domain.models import AccessKey, KeyStatus
from keyrotate.domain.secret import SecretText

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

# What an audit needs (the member role's audit tier): nothing here changes a user.
READ_PERMISSIONS: tuple[str, ...] = (
    "iam:ListUsers",
    "iam:ListUserTags",
    "iam:ListAccessKeys",
    "iam:GetAccessKeyLastUsed",
    "iam:GetGroup",
    "iam:ListAttachedUserPolicies",
    # The bulk scan: a handful of calls per account instead of several per user.
    "iam:GetAccountAuthorizationDetails",
    "iam:GenerateCredentialReport",
    "iam:GetCredentialReport",
)
# What only enforce mode calls: every way this adapter changes a user (member-role.yaml
# grants them in the enforce tier only, and denies them all for protected users).
WRITE_PERMISSIONS: tuple[str, ...] = (
    "iam:CreateAccessKey",
    "iam:UpdateAccessKey",
    "iam:DeleteAccessKey",
    "iam:TagUser",
    "iam:UntagUser",
    "iam:AttachUserPolicy",
)
PERMISSIONS: tuple[str, ...] = READ_PERMISSIONS + WRITE_PERMISSIONS

# Real IAM generates a report in seconds for small accounts, up to a minute or two for large
# ones; past this the run falls back to the per-user scan rather than wait.
REPORT_POLLS = 12
REPORT_POLL_INTERVAL_S = 2.5
# GetAccountAuthorizationDetails accepts up to 1000 items a page (IAM may return fewer).
DETAILS_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class IamUser:
    name: str
    arn: str


@dataclass(frozen=True, slots=True)
class IamUserDetail:
    """A user with its tags and group names, as GetAccountAuthorizationDetails lists it."""

    user: IamUser
    tags: dict[str, str]
    groups: frozenset[str]


@dataclass(frozen=True, slots=True)
class AuthorizationDetails:
    """GetAccountAuthorizationDetails' users, and the names of every group of the account
    (so a missing exemption group is told apart from an empty one)."""

    users: list[IamUserDetail]
    group_names: frozenset[str]


@dataclass(frozen=True, slots=True)
class RawCredentialReport:
    """GetCredentialReport's answer: the CSV (parsed in :mod:`keyrotate.domain`) and its age."""

    content: bytes
    generated: datetime | None


class ReportUnavailable(AwsError):
    """The credential report could not be had in time (still generating after every poll)."""


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just created. Its secret is wrapped so no repr or log can show it."""

    user_name: str
    key_id: str
    secret: SecretText
    created: datetime


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Iam:
    """The IAM calls of one account, through one client made once per account."""

    def __init__(self, client: IAMClient) -> None:
        self._client = client

    def list_users(self) -> list[IamUser]:
        users: list[IamUser] = []
        with translate("iam:ListUsers"):
            for page in self._client.get_paginator("list_users").paginate():
                users.extend(IamUser(u["UserName"], u["Arn"]) for u in page["Users"])
        return users

    def authorization_details(self) -> AuthorizationDetails:
        """Every user with tags and groups, and the account's group names, in a few pages:
        no ListUserTags per user, no GetGroup."""
        users: list[IamUserDetail] = []
        groups: set[str] = set()
        with translate("iam:GetAccountAuthorizationDetails"):
            pages = self._client.get_paginator("get_account_authorization_details").paginate(
                Filter=["User", "Group"], PaginationConfig={"PageSize": DETAILS_PAGE_SIZE}
            )
            for page in pages:
                users.extend(
                    IamUserDetail(
                        IamUser(u["UserName"], u["Arn"]),
                        {t["Key"]: t["Value"] for t in u.get("Tags", [])},
                        frozenset(u.get("GroupList", [])),
                    )
                    for u in page.get("UserDetailList", [])
                )
                groups.update(g["GroupName"] for g in page.get("GroupDetailList", []))
        return AuthorizationDetails(users, frozenset(groups))

    def credential_report(
        self,
        *,
        polls: int = REPORT_POLLS,
        interval_s: float = REPORT_POLL_INTERVAL_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> RawCredentialReport:
        """Generate (or reuse) the account's credential report and fetch it.

        GenerateCredentialReport answers COMPLETE when a report under four hours old exists
        (IAM then reuses it), else STARTED/INPROGRESS. GetCredentialReport is then tried; if
        the report is still being generated, it is polled at most ``polls`` times,
        ``interval_s`` apart, before :class:`ReportUnavailable` is raised. AccessDenied
        propagates as :class:`keyrotate.domain.errors.AccessDenied`.
        """
        generate = True
        for attempt in range(polls + 1):
            if generate:
                with translate("iam:GenerateCredentialReport"):
                    self._client.generate_credential_report()
                generate = False
            try:
                with translate("iam:GetCredentialReport"):
                    response = self._client.get_credential_report()
            except AwsError as exc:
                if exc.code in {"ReportNotPresent", "ReportExpired"}:
                    generate = True  # gone or too old: ask for a new one
                elif exc.code != "ReportInProgress":
                    raise
                if attempt < polls:
                    sleep(interval_s)
                continue
            moment = response.get("GeneratedTime")
            return RawCredentialReport(response["Content"], _utc(moment) if moment else None)
        raise ReportUnavailable(
            "iam:GetCredentialReport",
            "ReportInProgress",
            f"the credential report was not ready after {polls} polls {interval_s:g} s apart",
        )

    def user_tags(self, user_name: str) -> dict[str, str]:
        tags: dict[str, str] = {}
        with translate("iam:ListUserTags"):
            pages = self._client.get_paginator("list_user_tags").paginate(UserName=user_name)
            for page in pages:
                tags.update((t["Key"], t["Value"]) for t in page["Tags"])
        return tags

    def group_members(self, group_name: str) -> set[str] | None:
        """Names of the group's members; ``None`` when the group does not exist here."""
        members: set[str] = set()
        try:
            with translate("iam:GetGroup"):
                for page in self._client.get_paginator("get_group").paginate(GroupName=group_name):
                    members.update(u["UserName"] for u in page["Users"])
        except AwsError as exc:
            if exc.code == "NoSuchEntity":
                return None
            raise
        return members

    def access_keys(self, user_name: str, *, with_last_used: bool = True) -> list[AccessKey]:
        keys: list[AccessKey] = []
        with translate("iam:ListAccessKeys"):
            pages = self._client.get_paginator("list_access_keys").paginate(UserName=user_name)
            metadata = [m for page in pages for m in page["AccessKeyMetadata"]]
        for meta in metadata:
            last_used = self.last_used(meta["AccessKeyId"]) if with_last_used else None
            keys.append(
                AccessKey(
                    key_id=meta["AccessKeyId"],
                    status=KeyStatus(meta["Status"]),
                    created=_utc(meta["CreateDate"]),
                    last_used=last_used,
                )
            )
        return keys

    def last_used(self, key_id: str) -> datetime | None:
        with translate("iam:GetAccessKeyLastUsed"):
            response = self._client.get_access_key_last_used(AccessKeyId=key_id)
        moment = response.get("AccessKeyLastUsed", {}).get("LastUsedDate")
        return _utc(moment) if moment else None

    def create_key(self, user_name: str) -> NewKey:
        with translate("iam:CreateAccessKey"):
            created = self._client.create_access_key(UserName=user_name)["AccessKey"]
        return NewKey(
            user_name=user_name,
            key_id=created["AccessKeyId"],
            secret=SecretText(created["SecretAccessKey"]),
            created=_utc(created["CreateDate"]),
        )

    def set_key_status(self, user_name: str, key_id: str, status: KeyStatus) -> None:
        with translate("iam:UpdateAccessKey"):
            self._client.update_access_key(
                UserName=user_name, AccessKeyId=key_id, Status=status.value
            )

    def delete_key(self, user_name: str, key_id: str) -> None:
        with translate("iam:DeleteAccessKey"):
            self._client.delete_access_key(UserName=user_name, AccessKeyId=key_id)

    def tag_user(self, user_name: str, tags: Mapping[str, str]) -> None:
        if not tags:
            return
        with translate("iam:TagUser"):
            self._client.tag_user(
                UserName=user_name, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
            )

    def untag_user(self, user_name: str, keys: Iterable[str]) -> None:
        tag_keys = sorted(set(keys))
        if not tag_keys:
            return
        with translate("iam:UntagUser"):
            self._client.untag_user(UserName=user_name, TagKeys=tag_keys)

    def ensure_policy_attached(self, user_name: str, policy_arn: str) -> bool:
        """Attach a managed policy unless it already is; ``True`` when it was attached now."""
        with translate("iam:ListAttachedUserPolicies"):
            pages = self._client.get_paginator("list_attached_user_policies").paginate(
                UserName=user_name
            )
            attached = {p["PolicyArn"] for page in pages for p in page["AttachedPolicies"]}
        if policy_arn in attached:
            return False
        with translate("iam:AttachUserPolicy"):
            self._client.attach_user_policy(UserName=user_name, PolicyArn=policy_arn)
        return True
