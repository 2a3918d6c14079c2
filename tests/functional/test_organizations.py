"""The organization inventory against a real moto server over HTTP.

The organization is built with boto3 in each test (moto state is reset per test)::

    /Root                      management (123456789012), shared
    /Root/Workloads            (none)
    /Root/Workloads/Prod       prod
    /Root/Workloads/Prod/Critical   critical
    /Root/Workloads/Dev        dev, retired (closed → SUSPENDED)
    /Root/Sandbox              sandbox
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from keyrotate.aws.organizations import (
    EXCLUDED,
    NOT_IN_ORGANIZATION,
    OUTSIDE_OU_SCOPE,
    PERMISSIONS,
    Inventory,
    inventory_client,
    inventory_principal,
    list_accounts,
    resolve_ou,
)
from keyrotate.aws.session import AccountSessions
from keyrotate.domain.errors import AccessDenied, InputError
from keyrotate.domain.models import Account

if TYPE_CHECKING:
    from mypy_boto3_organizations import OrganizationsClient

MANAGEMENT = "123456789012"


@dataclass(frozen=True)
class Org:
    client: OrganizationsClient
    root: str
    ous: dict[str, str]  # name -> id
    ids: dict[str, str]  # account name -> id

    def add_account(self, name: str, ou: str | None = None) -> str:
        status = self.client.create_account(AccountName=name, Email=f"{name}@example.com")
        account_id = status["CreateAccountStatus"]["AccountId"]
        if ou is not None:
            self.client.move_account(
                AccountId=account_id, SourceParentId=self.root, DestinationParentId=self.ous[ou]
            )
        self.ids[name] = account_id
        return account_id


@pytest.fixture
def org(moto_endpoint: str) -> Org:
    client = boto3.client("organizations", region_name="us-east-1")
    client.create_organization(FeatureSet="ALL")
    root = client.list_roots()["Roots"][0]["Id"]
    built = Org(client=client, root=root, ous={}, ids={"management": MANAGEMENT})
    for name, parent in [
        ("Workloads", None),
        ("Prod", "Workloads"),
        ("Critical", "Prod"),
        ("Dev", "Workloads"),
        ("Sandbox", None),
    ]:
        parent_id = built.ous[parent] if parent else root
        ou = client.create_organizational_unit(ParentId=parent_id, Name=name)
        built.ous[name] = ou["OrganizationalUnit"]["Id"]
    built.add_account("shared")
    built.add_account("prod", "Prod")
    built.add_account("critical", "Critical")
    built.add_account("dev", "Dev")
    built.add_account("retired", "Dev")
    built.add_account("sandbox", "Sandbox")
    client.close_account(AccountId=built.ids["retired"])
    return built


def _names(accounts: tuple[Account, ...]) -> list[str]:
    return sorted(a.name for a in accounts)


def _skipped(inventory: Inventory) -> dict[str, str]:
    return {account.account_id: reason for account, reason in inventory.skipped}


@pytest.fixture
def calls(org: Org) -> Iterator[list[str]]:
    """The Organizations operations the client makes, in order."""
    seen: list[str] = []

    def before_call(model: Any, **_: Any) -> None:
        seen.append(model.name)

    org.client.meta.events.register("before-call.organizations", before_call)
    yield seen
    org.client.meta.events.unregister("before-call.organizations", before_call)


def test_every_active_account_is_listed_with_name_email_and_ou_path(org: Org) -> None:
    inventory = list_accounts(org.client)
    by_name = {a.name: a for a in inventory.accounts}
    assert sorted(by_name) == ["critical", "dev", "master", "prod", "sandbox", "shared"]
    assert by_name["critical"] == Account(
        account_id=org.ids["critical"],
        name="critical",
        email="critical@example.com",
        status="ACTIVE",
        ou_path="/Root/Workloads/Prod/Critical",
        ou_ids=(org.root, org.ous["Workloads"], org.ous["Prod"], org.ous["Critical"]),
    )
    assert by_name["prod"].ou_path == "/Root/Workloads/Prod"
    assert by_name["dev"].ou_path == "/Root/Workloads/Dev"
    assert by_name["sandbox"].ou_path == "/Root/Sandbox"
    assert by_name["shared"].ou_path == "/Root"
    assert [a.account_id for a in inventory.accounts] == sorted(
        a.account_id for a in inventory.accounts
    )


def test_management_account_is_in_scope(org: Org) -> None:
    management = [a for a in list_accounts(org.client).accounts if a.account_id == MANAGEMENT]
    assert len(management) == 1
    assert management[0].ou_path == "/Root"


def test_suspended_account_is_skipped_with_its_status(org: Org) -> None:
    inventory = list_accounts(org.client)
    assert org.ids["retired"] not in {a.account_id for a in inventory.accounts}
    assert _skipped(inventory) == {org.ids["retired"]: "account status is SUSPENDED"}
    skipped_account = inventory.skipped[0][0]
    assert (skipped_account.name, skipped_account.ou_path) == ("retired", "/Root/Workloads/Dev")


def test_ou_scope_takes_in_nested_child_ous_and_nothing_else(org: Org) -> None:
    inventory = list_accounts(org.client, ou_ids=[org.ous["Workloads"]])
    assert _names(inventory.accounts) == ["critical", "dev", "prod"]
    assert _skipped(inventory) == {org.ids["retired"]: "account status is SUSPENDED"}


def test_ou_scope_on_a_middle_ou_includes_its_children_only(org: Org) -> None:
    inventory = list_accounts(org.client, ou_ids=[org.ous["Prod"]])
    assert _names(inventory.accounts) == ["critical", "prod"]
    assert inventory.skipped == ()


def test_several_ous_are_combined(org: Org) -> None:
    inventory = list_accounts(org.client, ou_ids=[org.ous["Critical"], org.ous["Sandbox"]])
    assert _names(inventory.accounts) == ["critical", "sandbox"]


def test_root_as_scope_means_the_whole_organization(org: Org) -> None:
    assert list_accounts(org.client, ou_ids=[org.root]) == list_accounts(org.client)


def test_ou_paths_as_the_report_prints_them_scope_like_ids(org: Org) -> None:
    by_path = list_accounts(org.client, ou_ids=["/Root/Workloads/Prod", "/Root/Sandbox/"])
    by_id = list_accounts(org.client, ou_ids=[org.ous["Prod"], org.ous["Sandbox"]])
    assert by_path == by_id
    assert _names(by_path.accounts) == ["critical", "prod", "sandbox"]
    assert list_accounts(org.client, ou_ids=["/Root"]) == list_accounts(org.client)


@pytest.mark.parametrize("path", ["/Root/Workloads/Nope", "/root/workloads", "/Workloads"])
def test_an_ou_path_naming_no_ou_is_an_input_error_naming_it(org: Org, path: str) -> None:
    with pytest.raises(InputError, match="no OU of this organization has this path") as caught:
        list_accounts(org.client, ou_ids=[path])
    assert caught.value.field == "ou"
    assert caught.value.value == path


def test_an_ou_path_naming_several_ous_is_an_input_error_naming_them() -> None:
    paths = {"r-aaaa": "/Root", "ou-aaaa-11111111": "/Root/Same", "ou-aaaa-22222222": "/Root/Same"}
    with pytest.raises(InputError, match="names 2 OUs") as caught:
        resolve_ou("/Root/Same", paths)
    assert "ou-aaaa-11111111, ou-aaaa-22222222" in str(caught.value)
    assert resolve_ou("ou-aaaa-11111111", paths) == "ou-aaaa-11111111"


def test_unknown_ou_is_an_input_error_naming_it(org: Org) -> None:
    with pytest.raises(InputError, match="ou-zzzz-zzzzzzzz"):
        list_accounts(org.client, ou_ids=["ou-zzzz-zzzzzzzz"])


def test_include_lists_only_those_accounts_and_flags_unknown_ids(org: Org) -> None:
    stranger = "999999999999"
    inventory = list_accounts(org.client, include=[org.ids["prod"], MANAGEMENT, stranger])
    assert sorted(a.account_id for a in inventory.accounts) == sorted([org.ids["prod"], MANAGEMENT])
    assert _skipped(inventory) == {stranger: NOT_IN_ORGANIZATION}


def test_included_account_outside_the_ou_scope_is_skipped_with_reason(org: Org) -> None:
    inventory = list_accounts(
        org.client, ou_ids=[org.ous["Prod"]], include=[org.ids["prod"], org.ids["sandbox"]]
    )
    assert _names(inventory.accounts) == ["prod"]
    assert _skipped(inventory) == {org.ids["sandbox"]: OUTSIDE_OU_SCOPE}


def test_included_suspended_account_is_still_skipped(org: Org) -> None:
    inventory = list_accounts(org.client, include=[org.ids["retired"]])
    assert inventory.accounts == ()
    assert _skipped(inventory) == {org.ids["retired"]: "account status is SUSPENDED"}


def test_exclude_skips_those_accounts_with_reason(org: Org) -> None:
    inventory = list_accounts(org.client, exclude=[org.ids["sandbox"], MANAGEMENT])
    assert _names(inventory.accounts) == ["critical", "dev", "prod", "shared"]
    assert _skipped(inventory) == {
        org.ids["sandbox"]: EXCLUDED,
        MANAGEMENT: EXCLUDED,
        org.ids["retired"]: "account status is SUSPENDED",
    }


def test_malformed_account_id_in_include_is_an_input_error(org: Org) -> None:
    with pytest.raises(InputError, match="include"):
        list_accounts(org.client, include=["12345"])


def test_new_account_appears_on_the_next_call_with_no_change(org: Org) -> None:
    before = list_accounts(org.client, ou_ids=[org.ous["Workloads"]])
    newcomer = org.add_account("newcomer", "Critical")
    after = list_accounts(org.client, ou_ids=[org.ous["Workloads"]])
    assert newcomer not in {a.account_id for a in before.accounts}
    assert {a.account_id: a.ou_path for a in after.accounts}[newcomer] == (
        "/Root/Workloads/Prod/Critical"
    )


def test_more_than_one_page_of_accounts_is_listed(org: Org, calls: list[str]) -> None:
    # Organizations returns 20 accounts per page.
    added = {org.add_account(f"bulk-{n:02d}", "Sandbox") for n in range(25)}
    calls.clear()
    inventory = list_accounts(org.client, ou_ids=[org.ous["Sandbox"]])
    assert {a.account_id for a in inventory.accounts} == added | {org.ids["sandbox"]}
    assert calls.count("ListAccountsForParent") > len(org.ous) + 1  # the Sandbox OU paged


def test_tree_is_walked_once_without_a_call_per_account(org: Org, calls: list[str]) -> None:
    list_accounts(org.client)
    parents = len(org.ous) + 1  # every OU and the root
    assert calls.count("ListRoots") == 1
    assert calls.count("ListOrganizationalUnitsForParent") == parents
    assert calls.count("ListAccountsForParent") == parents
    assert "ListParents" not in calls
    assert len(calls) == 1 + 2 * parents


def test_permissions_are_exactly_the_actions_called(org: Org, calls: list[str]) -> None:
    list_accounts(org.client, ou_ids=[org.ous["Workloads"]])
    assert sorted(PERMISSIONS) == sorted({f"organizations:{name}" for name in calls})


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def test_denied_call_names_the_action_and_the_role_to_fix(org: Org) -> None:
    def deny(**_: Any) -> AWSResponse:
        body = b'{"__type": "AccessDeniedException", "Message": "not authorized"}'
        return AWSResponse("https://organizations.invalid/", 400, {}, _Body(body))

    org.client.meta.events.register("before-send.organizations.ListAccountsForParent", deny)
    role = "arn:aws:iam::222233334444:role/keyrotate-org-list"
    with pytest.raises(AccessDenied) as caught:
        list_accounts(org.client, principal=role)
    assert caught.value.operation == "organizations:ListAccountsForParent"
    assert f"grant organizations:ListAccountsForParent to {role}" in str(caught.value)


# -- which credentials list the accounts ------------------------------------------------------


def _record_assume_role_calls(session: boto3.Session) -> list[str]:
    arns: list[str] = []

    def before_call(params: dict[str, Any], **_: Any) -> None:
        arns.append(params["body"]["RoleArn"])

    session.events.register("before-call.sts.AssumeRole", before_call)
    return arns


@pytest.fixture
def base(moto_endpoint: str) -> boto3.Session:
    return boto3.Session(region_name="us-east-1")


def test_inventory_client_uses_the_caller_when_no_org_list_account(
    org: Org, base: boto3.Session
) -> None:
    assumed = _record_assume_role_calls(base)
    sessions = AccountSessions(base, "member-role", region="us-east-1")
    client = inventory_client(base, None, None, sessions)
    assert len(list_accounts(client).accounts) == 6
    assert assumed == []
    assert inventory_principal(None, None, sessions) == "the caller's credentials"


def test_inventory_client_uses_the_caller_in_its_own_account(org: Org, base: boto3.Session) -> None:
    assumed = _record_assume_role_calls(base)
    sessions = AccountSessions(base, "member-role", region="us-east-1")
    client = inventory_client(base, MANAGEMENT, "org-list-role", sessions)
    assert len(list_accounts(client).accounts) == 6
    assert assumed == []


def test_inventory_client_assumes_org_list_role_in_org_list_account(
    org: Org, base: boto3.Session
) -> None:
    assumed = _record_assume_role_calls(base)
    sessions = AccountSessions(base, "member-role", region="us-east-1")
    delegated = org.ids["shared"]
    client = inventory_client(base, delegated, "org-list-role", sessions)
    # moto answers a member account's ListAccounts with no accounts: the call left as the member.
    assert client.list_accounts()["Accounts"] == []
    assert assumed == [f"arn:aws:iam::{delegated}:role/org-list-role"]
    assert inventory_principal(delegated, "org-list-role", sessions) == assumed[0]


def test_org_list_account_without_role_is_an_input_error(org: Org, base: boto3.Session) -> None:
    sessions = AccountSessions(base, "member-role", region="us-east-1")
    with pytest.raises(InputError, match="OrgListRole"):
        inventory_client(base, org.ids["shared"], None, sessions)
