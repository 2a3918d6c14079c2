"""A realistic emulated organization for the demo and the organization-wide tests.

The manifest is the oracle: every account (with OU path and status) and, per seeded user,
the SPEC.md worked example it stands for and the action kinds SPEC.md prescribes at ``now``
under the default policy. Expected kinds are written out from SPEC.md's table, not computed
by the engine, so tests that compare a run with the manifest really check the engine.

Layout (member accounts get ids from moto):

    /Root                      management (123456789012, moto names it 'master')
    /Root/Workloads/Prod       prod-payments: one user per SPEC worked example, exemptions
                               prod-web
    /Root/Workloads/Dev        dev-analytics: 160 users (more than one IAM page)
                               dev-tools
    /Root/Sandbox              sandbox-alice
                               sandbox-retired (SUSPENDED: must be skipped, keys left alone)
    /Root/Security             security-audit
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from keyrotate.domain.models import ActionKind
from keyrotate_emulator.seed import (
    MANAGEMENT_ACCOUNT_ID,
    KeySpec,
    OrganizationBuilder,
    SeededAccount,
    UserSpec,
    create_member_roles,
    seed_users,
)

EXEMPTION_GROUP = "IAMKeyRotationExemptionGroup"
EXEMPT_TAG = "keyrotate:exempt"
OWNER_TAG = "ResourceOwner"
BULK_USERS = 160

ROTATE = ActionKind.ROTATE
DEACTIVATE = ActionKind.DEACTIVATE
DELETE = ActionKind.DELETE
WARN = ActionKind.WARN
HOLD = ActionKind.HOLD
BLOCKED = ActionKind.BLOCKED
EXEMPT = ActionKind.EXEMPT


@dataclass(frozen=True, slots=True)
class ManifestUser:
    """One seeded user: where it is, which SPEC row it stands for, what a run should plan."""

    account_id: str
    user_name: str
    spec_row: str | None
    expected: tuple[ActionKind, ...]
    key_ids: tuple[str, ...]
    owner: str | None = None
    exempt_by: str | None = None  # "group" or "tag"


@dataclass(frozen=True, slots=True)
class DemoManifest:
    """What :func:`seed_demo_organization` built, for tests, the demo and its report."""

    now: datetime
    role_name: str
    management_account_id: str
    accounts: tuple[SeededAccount, ...]
    users: tuple[ManifestUser, ...]
    exemption_group: str = EXEMPTION_GROUP
    exempt_tag: str = EXEMPT_TAG
    owner_tag: str = OWNER_TAG
    ou_paths: tuple[str, ...] = field(default=())

    def account(self, name: str) -> SeededAccount:
        for account in self.accounts:
            if account.name == name:
                return account
        raise KeyError(f"no account named {name!r} in the demo organization")

    @property
    def active_accounts(self) -> tuple[SeededAccount, ...]:
        return tuple(a for a in self.accounts if a.status == "ACTIVE")

    @property
    def skipped_accounts(self) -> tuple[SeededAccount, ...]:
        return tuple(a for a in self.accounts if a.status != "ACTIVE")

    def users_in(self, account_id: str) -> tuple[ManifestUser, ...]:
        return tuple(u for u in self.users if u.account_id == account_id)

    def user(self, user_name: str, account_id: str | None = None) -> ManifestUser:
        for user in self.users:
            if user.user_name == user_name and account_id in (None, user.account_id):
                return user
        raise KeyError(f"no seeded user {user_name!r}")

    @property
    def spec_rows(self) -> tuple[ManifestUser, ...]:
        """The users that stand for SPEC.md's worked examples, in the table's order."""
        return tuple(u for u in self.users if u.spec_row is not None)

    def expected_kinds(self) -> set[ActionKind]:
        return {
            kind
            for user in self.users
            if user.account_id in self._active_ids()
            for kind in user.expected
        }

    def _active_ids(self) -> set[str]:
        return {a.account_id for a in self.active_accounts}


@dataclass(frozen=True, slots=True)
class _Row:
    """A SPEC.md worked example as a user to seed."""

    user_name: str
    spec_row: str
    keys: tuple[KeySpec, ...]
    expected: tuple[ActionKind, ...]


USED = 1.0  # "used" in the table: used a day ago

# SPEC.md "Worked examples", one user each. Keys oldest first (A, then B = current).
SPEC_ROWS: tuple[_Row, ...] = (
    _Row("svc-fresh", "A(30, active, used)", (KeySpec(30, True, USED),), ()),
    _Row("svc-warn-rotation", "A(85, active, used)", (KeySpec(85, True, USED),), (WARN,)),
    _Row("svc-rotate-due", "A(95, active, used)", (KeySpec(95, True, USED),), (ROTATE,)),
    _Row("svc-unused", "A(95, active, never used)", (KeySpec(95, True, None),), (DEACTIVATE,)),
    _Row(
        "svc-deactivate-previous",
        "A(101, active, used before B existed), B(11, active, used, current)",
        (KeySpec(101, True, 12), KeySpec(11, True, USED)),
        (DEACTIVATE,),
    ),
    _Row(
        "svc-warn-install-window",
        "A(101, active), B(3, active, current)",
        (KeySpec(101, True, 4), KeySpec(3, True, USED)),
        (WARN,),
    ),
    _Row(
        "svc-hold",
        "A(101, active, used yesterday), B(11, active, never used)",
        (KeySpec(101, True, USED), KeySpec(11, True, None)),
        (HOLD,),
    ),
    _Row(
        "svc-hold-shared",
        "A(101, active, used yesterday), B(11, active, used yesterday, current)",
        (KeySpec(101, True, USED), KeySpec(11, True, USED)),
        (HOLD,),
    ),
    _Row(
        "svc-previous-idle",
        "A(101, active, last used 9 days ago), B(11, active, used, current)",
        (KeySpec(101, True, 9), KeySpec(11, True, USED)),
        (DEACTIVATE,),
    ),
    _Row(
        "svc-delete-previous",
        "A(111, inactive), B(21, active, current)",
        (KeySpec(111, False, 30), KeySpec(21, True, USED)),
        (DELETE,),
    ),
    _Row(
        "svc-first-sight-old",
        "A(400, active, used) on first sight",
        (KeySpec(400, True, USED),),
        (ROTATE,),
    ),
    _Row("svc-lone-inactive", "A(120, inactive), alone", (KeySpec(120, False, 40),), (DELETE,)),
    _Row(
        "svc-delete-then-rotate",
        "A(130, inactive), B(95, active, used, current)",
        (KeySpec(130, False, 100), KeySpec(95, True, USED)),
        (DELETE, ROTATE),
    ),
    _Row(
        "svc-blocked",
        "A(400, active, used), B(200, active, used, current)",
        # "used", but not within in_use_days: a recent use would HOLD A (rule 7)
        (KeySpec(400, True, 30), KeySpec(200, True, USED)),
        (DEACTIVATE, BLOCKED),
    ),
)

_ACCOUNTS: tuple[tuple[str, str], ...] = (
    # (name, OU path below the root)
    ("prod-payments", "Workloads/Prod"),
    ("prod-web", "Workloads/Prod"),
    ("dev-analytics", "Workloads/Dev"),
    ("dev-tools", "Workloads/Dev"),
    ("sandbox-alice", "Sandbox"),
    ("sandbox-retired", "Sandbox"),
    ("security-audit", "Security"),
)
_SUSPENDED = "sandbox-retired"


def seed_demo_organization(
    endpoint: str, now: datetime, role_name: str = "keyrotate-member"
) -> DemoManifest:
    """Seed the demo organization into the emulator at ``endpoint`` (served by this process).

    Organizations, accounts, roles: over the API. Users and keys: in moto's backend, then aged
    (see :func:`~keyrotate_emulator.seed.seed_users`). Takes about a second.
    """
    org = OrganizationBuilder(endpoint)
    accounts: dict[str, SeededAccount] = {}
    for name, ou_path in _ACCOUNTS:
        accounts[name] = org.account(name, f"aws+{name}@example.com", ou_path)
    create_member_roles(endpoint, [a.account_id for a in accounts.values()], role_name)
    accounts[_SUSPENDED] = org.close(accounts[_SUSPENDED])

    users: list[ManifestUser] = []

    def seed(account: SeededAccount, specs: Sequence[UserSpec], rows: dict[str, _Meta]) -> None:
        seeded = seed_users(endpoint, account.account_id, specs, now, role_name=role_name)
        for spec in specs:
            meta = rows.get(spec.name, _Meta())
            users.append(
                ManifestUser(
                    account_id=account.account_id,
                    user_name=spec.name,
                    spec_row=meta.spec_row,
                    expected=meta.expected,
                    key_ids=tuple(k.key_id for k in seeded[spec.name]),
                    owner=spec.tags.get(OWNER_TAG),
                    exempt_by=meta.exempt_by,
                )
            )

    # prod-payments: SPEC's worked examples, the exemptions, a user with no keys.
    owners = ("payments-team@example.com", "alice@example.com", "bob@example.com")
    prod_specs: list[UserSpec] = []
    prod_meta: dict[str, _Meta] = {}
    for index, row in enumerate(SPEC_ROWS):
        tags = {OWNER_TAG: owners[index % len(owners)]} if index % 4 != 3 else {}
        prod_specs.append(UserSpec(row.user_name, row.keys, tags=tags))
        prod_meta[row.user_name] = _Meta(row.spec_row, row.expected)
    until = (now + timedelta(days=180)).strftime("%Y-%m-%d")
    prod_specs += [
        UserSpec(
            "svc-exempt-group",
            (KeySpec(200, True, USED),),
            tags={OWNER_TAG: "vendor-team@example.com"},
            groups=(EXEMPTION_GROUP,),
        ),
        UserSpec(
            "svc-exempt-tag",
            (KeySpec(200, True, USED),),
            tags={EXEMPT_TAG: f"until={until};reason=vendor appliance"},
        ),
        UserSpec("svc-no-keys", (), tags={OWNER_TAG: "alice@example.com"}),
    ]
    prod_meta["svc-exempt-group"] = _Meta(
        "exempt: member of the exemption group", (EXEMPT,), "group"
    )
    prod_meta["svc-exempt-tag"] = _Meta("exempt: keyrotate:exempt tag", (EXEMPT,), "tag")
    prod_meta["svc-no-keys"] = _Meta("no keys", ())
    seed(accounts["prod-payments"], prod_specs, prod_meta)

    # dev-analytics: more users than one IAM page holds; keys fresh, a few due.
    bulk: list[UserSpec] = []
    bulk_meta: dict[str, _Meta] = {}
    for index in range(BULK_USERS):
        name = f"analyst-{index:03d}"
        if index % 20 == 0:  # 10% due: makes a page boundary matter to the outcome
            bulk.append(
                UserSpec(
                    name,
                    (KeySpec(92 + index % 7, True, USED),),
                    tags={OWNER_TAG: "data-team@example.com"},
                )
            )
            bulk_meta[name] = _Meta(None, (ROTATE,))
        else:
            bulk.append(UserSpec(name, (KeySpec(5 + index % 70, True, USED),)))
    seed(accounts["dev-analytics"], bulk, bulk_meta)

    # A few users elsewhere, so every active account has work or a clean bill.
    seed(
        org.management,
        [
            UserSpec(
                "legacy-admin",
                (KeySpec(700, True, USED),),
                tags={OWNER_TAG: "cloud-team@example.com"},
            ),
            UserSpec(
                "ci-deployer",
                (KeySpec(20, True, USED),),
                tags={OWNER_TAG: "cloud-team@example.com"},
            ),
        ],
        {"legacy-admin": _Meta(None, (ROTATE,)), "ci-deployer": _Meta(None, ())},
    )
    seed(
        accounts["prod-web"],
        [
            UserSpec(
                "web-uploader", (KeySpec(87, True, USED),), tags={OWNER_TAG: "web-team@example.com"}
            )
        ],
        {"web-uploader": _Meta(None, (WARN,))},
    )
    seed(accounts["dev-tools"], [UserSpec("tools-bot", (KeySpec(40, True, USED),))], {})
    seed(
        accounts["sandbox-alice"],
        [
            UserSpec(
                "alice-experiments",
                (KeySpec(150, True, None),),
                tags={OWNER_TAG: "alice@example.com"},
            )
        ],
        {"alice-experiments": _Meta(None, (DEACTIVATE,))},
    )
    seed(
        accounts[_SUSPENDED],
        [UserSpec("retired-user", (KeySpec(500, True, USED),))],
        {"retired-user": _Meta("suspended account: skipped, left alone", ())},
    )
    seed(accounts["security-audit"], [], {})

    ordered = (org.management, *accounts.values())
    return DemoManifest(
        now=now,
        role_name=role_name,
        management_account_id=MANAGEMENT_ACCOUNT_ID,
        accounts=ordered,
        users=tuple(users),
        ou_paths=org.ou_paths,
    )


@dataclass(frozen=True, slots=True)
class _Meta:
    spec_row: str | None = None
    expected: tuple[ActionKind, ...] = ()
    exempt_by: str | None = None
