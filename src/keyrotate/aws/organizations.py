"""The organization's accounts, with their OU paths, scoped for one run.

The tree is walked once from the root (ListRoots, then per parent
ListOrganizationalUnitsForParent and ListAccountsForParent, every call paginated), so each
account's OU path comes for free: no ListParents per account. For an organization with N
OUs that is 1 + 2·(N+1) calls plus extra pages, whatever the number of accounts.

Nothing is cached between runs: an account created since the last run is simply found.

Example: accounts in ``/Root/Workloads/Prod`` are in scope for ``ou_ids=("ou-workloads",)``
because scoping an OU takes in every OU nested under it. An OU may also be named by its path
as the report prints it (``/Root/Workloads``): see :func:`resolve_ou`.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from keyrotate.aws.errors import translate
from keyrotate.aws.session import AccountSessions, check_account_id, retry_config
from keyrotate.domain.errors import InputError
from keyrotate.domain.models import Account, AccountStatus

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_organizations import OrganizationsClient

PERMISSIONS: tuple[str, ...] = (
    "organizations:ListRoots",
    "organizations:ListOrganizationalUnitsForParent",
    "organizations:ListAccountsForParent",
)

NOT_IN_ORGANIZATION = "not in organization"
EXCLUDED = "excluded"
OUTSIDE_OU_SCOPE = "outside the OU scope"


@dataclass(frozen=True, slots=True)
class Inventory:
    """The accounts a run covers, and every account it leaves out with the reason why."""

    accounts: tuple[Account, ...]
    skipped: tuple[tuple[Account, str], ...]


@dataclass(frozen=True, slots=True)
class _Node:
    """One OU (or the root): its path of names and its parent's id (None for a root)."""

    path: str
    parent_id: str | None


def is_ou_path(value: str) -> bool:
    """Whether ``value`` names an OU by its path (``/Root/Workloads``), not by its id."""
    return value.startswith("/")


def resolve_ou(value: str, paths: dict[str, str], *, field: str = "ou") -> str:
    """The id of the OU (or root) ``value`` names: an id of the tree, or its path.

    ``paths`` maps each OU id to its path as the report prints it (``/Root/Workloads``). A
    path is matched exactly (a trailing ``/`` aside); one that names no OU, or several (two
    roots named alike), is an :class:`InputError` naming it, as is an unknown id.
    """
    if not is_ou_path(value):
        if value in paths:
            return value
        raise InputError(
            field, value, "use the id of an OU (ou-…) or root (r-…) of this organization"
        )
    wanted = value.rstrip("/") or "/"
    found = sorted(ou_id for ou_id, path in paths.items() if path == wanted)
    if len(found) == 1:
        return found[0]
    if found:
        raise InputError(
            field,
            value,
            f"this path names {len(found)} OUs ({', '.join(found)}): give the id of the one meant",
        )
    known = sorted(paths.values())
    sample = ", ".join(known[:5]) + (", …" if len(known) > 5 else "")
    raise InputError(
        field,
        value,
        f"no OU of this organization has this path; give a path as the report prints it "
        f"(case matters), such as {sample}, or an OU id",
    )


def list_accounts(
    client: OrganizationsClient,
    *,
    ou_ids: Iterable[str] = (),
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    principal: str | None = None,
    exempt_ous: Iterable[str] = (),
) -> Inventory:
    """Every ACTIVE account in scope, plus the skipped ones (non-ACTIVE, excluded, unknown).

    - ``ou_ids``: only accounts in these OUs or any OU nested below them (a root id means
      the whole organization); empty means the whole organization. Each is an id or a path
      as the report prints it (:func:`resolve_ou`).
    - ``include``: only these accounts; an id the organization does not hold is skipped as
      "not in organization", one outside the OU scope as "outside the OU scope".
    - ``exclude``: these accounts are skipped as "excluded".
    - ``principal``: who makes the calls (a role ARN), named in access-denied messages.
    - ``exempt_ous``: the OUs the AccountExemptions setting names (ids or paths): each must
      be an OU of this organization, or an exemption meant for it would silently exempt
      nothing; an :class:`InputError` says which.

    The management account is an account like any other here: it is listed when in scope.
    Accounts come sorted by id; skipped ones follow the same order.
    """
    scope_ous = tuple(ou_ids)
    wanted = {check_account_id(a, "include") for a in include}
    unwanted = {check_account_id(a, "exclude") for a in exclude}
    who = principal or "the caller's credentials"
    tree, placed = _walk(client, who)

    paths = {node_id: node.path for node_id, node in tree.items()}
    scope_ids = [resolve_ou(ou, paths) for ou in scope_ous]
    for ou in exempt_ous:
        resolve_ou(ou, paths, field="account_exemptions")
    in_scope_ous = _subtree(tree, scope_ids) if scope_ids else set(tree)

    accounts: list[Account] = []
    skipped: list[tuple[Account, str]] = []
    for account_id in sorted(placed):
        account, parent_id = placed[account_id]
        if wanted and account_id not in wanted:
            continue
        if parent_id not in in_scope_ous:
            if account_id in wanted:
                skipped.append((account, OUTSIDE_OU_SCOPE))
            continue
        if account_id in unwanted:
            skipped.append((account, EXCLUDED))
        elif account.status != AccountStatus.ACTIVE:
            skipped.append((account, f"account status is {account.status}"))
        else:
            accounts.append(account)
    for account_id in sorted(wanted - placed.keys()):
        unknown = Account(account_id=account_id, name="", email="", status="UNKNOWN", ou_path="")
        skipped.append((unknown, NOT_IN_ORGANIZATION))
    return Inventory(accounts=tuple(accounts), skipped=tuple(skipped))


def _walk(
    client: OrganizationsClient, who: str
) -> tuple[dict[str, _Node], dict[str, tuple[Account, str]]]:
    """The OU tree (id -> node) and every account with the id of the OU that holds it."""
    tree: dict[str, _Node] = {}
    placed: dict[str, tuple[Account, str]] = {}
    with _calling("organizations:ListRoots", who):
        roots = [r for page in client.get_paginator("list_roots").paginate() for r in page["Roots"]]
    pending: list[tuple[str, str, str | None]] = [
        (root["Id"], f"/{root.get('Name') or 'Root'}", None) for root in roots
    ]
    while pending:
        parent_id, path, grandparent = pending.pop()
        tree[parent_id] = _Node(path=path, parent_id=grandparent)
        with _calling("organizations:ListOrganizationalUnitsForParent", who):
            paginator = client.get_paginator("list_organizational_units_for_parent")
            for ou_page in paginator.paginate(ParentId=parent_id):
                pending.extend(
                    (ou["Id"], f"{path}/{ou.get('Name', ou['Id'])}", parent_id)
                    for ou in ou_page["OrganizationalUnits"]
                )
        with _calling("organizations:ListAccountsForParent", who):
            paginator_accounts = client.get_paginator("list_accounts_for_parent")
            for page in paginator_accounts.paginate(ParentId=parent_id):
                for entry in page["Accounts"]:
                    # "State" replaces the deprecated "Status" (same values for our purpose).
                    status = str(entry.get("State") or entry.get("Status") or "UNKNOWN")
                    account = Account(
                        account_id=entry["Id"],
                        name=entry.get("Name", ""),
                        email=entry.get("Email", ""),
                        status=status,
                        ou_path=path,
                        ou_ids=_ancestry(tree, parent_id),
                    )
                    placed[account.account_id] = (account, parent_id)
    return tree, placed


def _ancestry(tree: dict[str, _Node], node_id: str) -> tuple[str, ...]:
    """The ids from the root down to ``node_id`` (its ancestors are walked before it)."""
    chain: list[str] = []
    current: str | None = node_id
    while current is not None:
        chain.append(current)
        current = tree[current].parent_id
    return tuple(reversed(chain))


def _subtree(tree: dict[str, _Node], tops: Iterable[str]) -> set[str]:
    """The ids of ``tops`` and of every OU nested below any of them."""
    children: dict[str, list[str]] = {}
    for node_id, node in tree.items():
        if node.parent_id is not None:
            children.setdefault(node.parent_id, []).append(node_id)
    found: set[str] = set()
    pending = list(tops)
    while pending:
        node_id = pending.pop()
        if node_id not in found:
            found.add(node_id)
            pending.extend(children.get(node_id, ()))
    return found


def _calling(action: str, who: str) -> AbstractContextManager[None]:
    return translate(
        action,
        f"Fix: grant {action} to {who} (OrgListRole in OrgListAccount, or the caller's "
        "own role when OrgListAccount is not set)",
    )


def inventory_client(
    base_session: boto3.Session,
    org_list_account: str | None,
    org_list_role: str | None,
    sessions: AccountSessions,
) -> OrganizationsClient:
    """The Organizations client a run lists accounts with.

    Directly with the caller's credentials when ``org_list_account`` is unset or is the
    caller's own account (the management account, or a delegated administrator); otherwise
    through ``org_list_role`` assumed in ``org_list_account``.
    """
    if org_list_account is None or org_list_account == sessions.caller_account_id:
        return base_session.client(
            "organizations", region_name=sessions.region, config=retry_config()
        )
    check_account_id(org_list_account, "OrgListAccount")
    if not org_list_role:
        raise InputError(
            "OrgListRole",
            org_list_role,
            f"name the role to assume in OrgListAccount {org_list_account} to list accounts",
        )
    session = sessions.assume(org_list_account, org_list_role)
    return session.client("organizations", region_name=sessions.region, config=retry_config())


def inventory_principal(
    org_list_account: str | None, org_list_role: str | None, sessions: AccountSessions
) -> str:
    """Who lists the accounts, for messages: the OrgListRole ARN or the caller."""
    if org_list_account is None or not org_list_role:
        return "the caller's credentials"
    if org_list_account == sessions.caller_account_id:
        return "the caller's credentials"
    return sessions.role_arn(org_list_account, org_list_role)
