"""The fences IAM enforces around keyrotate, checked where the emulator cannot judge them.

tests/functional/test_iam_enforced.py runs keyrotate against moto with IAM enforced and the
templates' exact policies: actions and resource ARNs are judged there (the audit tier's
missing writes, the protected-path Deny, the managed path). moto does not evaluate condition
keys, so every statement whose effect rests on a condition is pinned here instead, with the
condition's meaning worked through as IAM evaluates it (``StringLike``: ``*`` any run of
characters, ``?`` one, case-sensitive; ``fnmatchcase`` does the same for patterns without
``[``).

deploy/README.md "Which fence is which" lists these fences and the ones the code keeps.
"""

from __future__ import annotations

import ast
import re
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from keyrotate.aws import iam
from keyrotate.config.settings import Settings
from keyrotate.domain import state_tags
from keyrotate.domain.mail_domains import recipient_allowed
from keyrotate.permissions import WRITES
from tests.functional.deployed_env import Stack, load_template
from tests.functional.iam_auth import statement as resolved_statement
from tests.unit.test_permissions import AUDIT_PARAMETERS, statements_of

ROOT = Path(__file__).resolve().parents[2]
PROTECTION_TAG = "keyrotate:protected"
USER_CHANGES = set(iam.WRITE_PERMISSIONS)


def _member(parameters: dict[str, str] | None = None) -> list[dict[str, Any]]:
    return statements_of("member-role.yaml", "MemberRole", parameters)


def _by_sid(statements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in statements}


def _actions(statement: dict[str, Any]) -> set[str]:
    listed = statement["Action"]
    return {listed} if isinstance(listed, str) else set(listed)


def _main_stack(**parameters: str) -> Stack:
    return Stack(
        load_template("main.yaml"),
        {
            "S3BucketName": "keyrotate-code",
            "OrgListAccount": "111111111111",
            "AdminEmailAddress": "security@example.com",
            "AllowedEmailDomains": "example.com",
            "AWSOrgID": "o-exampleorg1",
            **parameters,
        },
        {"AWS::AccountId": "222222222222", "AWS::Partition": "aws", "AWS::Region": "us-east-1"},
    )


# ---- tiers ----------------------------------------------------------------------------------
@pytest.mark.parametrize("tier", ["audit", "enforce"])
def test_the_deny_fences_stand_in_both_tiers(tier: str) -> None:
    denies = {s["Sid"] for s in _member({"MemberRoleTier": tier}) if s["Effect"] == "Deny"}
    assert denies == {
        "DenyChangesToUsersCarryingTheProtectionTag",
        "DenySettingOrRemovingTheProtectionTag",
        "DenyChangesToProtectedUsers",
    }


def test_the_audit_tier_grants_no_write_to_any_user_or_secret() -> None:
    allowed = [s for s in _member(AUDIT_PARAMETERS["member-role.yaml"]) if s["Effect"] == "Allow"]
    granted = set().union(*(_actions(s) for s in allowed))
    assert not granted & WRITES
    assert all(
        a.split(":")[1].startswith(("List", "Get", "Describe"))
        or a == "iam:GenerateCredentialReport"  # makes the report, changes nothing
        or a == "iam:SimulatePrincipalPolicy"  # asks IAM about the role itself (doctor)
        for a in granted
    )


def test_main_deploys_the_member_role_in_the_tier_of_its_mode() -> None:
    template = load_template("main.yaml")
    assert template["Conditions"]["Enforce"] == {"Fn::Equals": [{"Ref": "DryRunFlag"}, "False"]}
    passed = {
        p["ParameterKey"]: p["ParameterValue"]
        for p in template["Resources"]["MemberRoleStackSet"]["Properties"]["Parameters"]
    }
    assert passed["MemberRoleTier"] == {"Fn::If": ["Enforce", "enforce", "audit"]}
    assert passed["ProtectedUserArns"] == {"Fn::Join": [",", {"Ref": "ProtectedUserArns"}]}
    assert passed["ManagedUserPath"] == {"Ref": "ManagedUserPath"}
    member = load_template("member-role.yaml")["Parameters"]
    assert member["MemberRoleTier"]["Default"] == "audit"  # a stack deployed by hand too


# ---- protected users (the resource-tag half; the ARN half is enforced in the emulator) -----
def test_users_carrying_the_protection_tag_are_denied_every_change_the_role_can_make() -> None:
    deny = _by_sid(_member())["DenyChangesToUsersCarryingTheProtectionTag"]
    assert deny["Effect"] == "Deny"
    assert _actions(deny) == USER_CHANGES
    assert deny["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*"}
    # Null "false": the tag key is present on the user, whatever its value.
    assert deny["Condition"] == {"Null": {f"aws:ResourceTag/{PROTECTION_TAG}": "false"}}


def test_users_listed_as_protected_are_denied_every_change_the_role_can_make() -> None:
    template = load_template("member-role.yaml")
    deny = _by_sid(_member())["DenyChangesToProtectedUsers"]
    assert _actions(deny) == USER_CHANGES
    assert deny["Resource"] == {"Ref": "ProtectedUserArns"}
    assert "Condition" not in deny
    assert template["Conditions"]["HasProtectedUsers"] == {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "ProtectedUserArns"}]}, ""]}]
    }


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("arn:aws:iam::*:user/breakglass/*", True),
        ("arn:aws:iam::123456789012:user/emergency-admin", True),
        ("arn:aws-us-gov:iam::*:user/*/admin-?", True),
        ("", True),
        ("arn:aws:iam::*:role/admin", False),  # users only: the fence is about user keys
        ("breakglass/*", False),
        ("*", False),
        ("arn:aws:iam::1234:user/x", False),
    ],
)
def test_protected_user_arns_are_user_arn_patterns(value: str, accepted: bool) -> None:
    for name in ("member-role.yaml", "main.yaml"):
        pattern = load_template(name)["Parameters"]["ProtectedUserArns"]["AllowedPattern"]
        assert bool(re.fullmatch(pattern, value)) is accepted, name


def test_every_allowed_change_is_limited_to_the_managed_path() -> None:
    for statement in _member():
        if statement["Effect"] == "Allow" and _actions(statement) & USER_CHANGES:
            assert statement["Resource"] == {
                "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:user${ManagedUserPath}*"
            }, statement["Sid"]


# ---- tags: only keyrotate's state tags, never the protection or exemption tag ---------------
def _tag_patterns() -> list[str]:
    statement = _by_sid(_member())["WriteOnlyKeyrotateStateTags"]
    assert _actions(statement) == {"iam:TagUser", "iam:UntagUser"}
    condition = statement["Condition"]
    assert condition["Null"] == {"aws:TagKeys": "false"}  # no empty request slips through
    patterns = condition["ForAllValues:StringLike"]["aws:TagKeys"]
    assert not any("[" in p for p in patterns)  # so fnmatchcase reads them as IAM does
    return list(patterns)


def test_tag_user_may_write_every_state_tag_the_code_writes_on_users() -> None:
    patterns = _tag_patterns()
    assert patterns == [
        state_tags.USER_INTENT,
        state_tags.USER_GRANT_PENDING,
        state_tags.USER_DEACTIVATED + "*",
    ]
    for key in (
        state_tags.USER_INTENT,
        state_tags.USER_GRANT_PENDING,
        state_tags.USER_DEACTIVATED + "AKIAIOSFODNN7EXAMPLE",
    ):
        assert any(fnmatchcase(key, p) for p in patterns), key


@pytest.mark.parametrize(
    "key",
    [
        PROTECTION_TAG,
        Settings().exemption_tag,
        Settings().resource_owner_tag,
        "team",  # a tag an ABAC policy could rest on
        "keyrotate:deactivated",  # no key id: not a state tag
    ],
)
def test_tag_user_may_not_write_any_other_tag(key: str) -> None:
    assert not any(fnmatchcase(key, p) for p in _tag_patterns())


def test_the_protection_tag_can_be_neither_set_nor_removed() -> None:
    deny = _by_sid(_member())["DenySettingOrRemovingTheProtectionTag"]
    assert (deny["Effect"], _actions(deny), deny["Resource"]) == (
        "Deny",
        {"iam:TagUser", "iam:UntagUser"},
        "*",
    )
    assert deny["Condition"] == {"ForAnyValue:StringEquals": {"aws:TagKeys": PROTECTION_TAG}}


# ---- secrets: non-public policies only ------------------------------------------------------
@pytest.mark.parametrize(
    ("template", "role"), [("member-role.yaml", "MemberRole"), ("main.yaml", "RotationRole")]
)
def test_secret_policies_can_be_set_only_with_block_public_policy(template: str, role: str) -> None:
    setting = [
        s
        for s in statements_of(template, role)
        if s["Effect"] == "Allow" and "secretsmanager:PutResourcePolicy" in _actions(s)
    ]
    assert len(setting) == 1
    assert _actions(setting[0]) == {"secretsmanager:PutResourcePolicy"}
    assert setting[0]["Condition"] == {"Bool": {"secretsmanager:BlockPublicPolicy": "true"}}


def test_the_code_always_asks_secrets_manager_to_block_public_policies() -> None:
    tree = ast.parse((ROOT / "src/keyrotate/aws/secrets.py").read_text(encoding="utf-8"))
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "put_resource_policy"
    ]
    assert calls
    for call in calls:
        flags = [k.value for k in call.keywords if k.arg == "BlockPublicPolicy"]
        assert len(flags) == 1
        assert isinstance(flags[0], ast.Constant)
        assert flags[0].value is True


# ---- the central key: each account decrypts only its own secrets -----------------------------
def test_the_central_key_decrypts_for_an_account_only_its_own_secrets() -> None:
    stack = _main_stack(StoreSecretsInCentralAccount="True")
    policy = stack.resolve(stack.template["Resources"]["SecretsKey"]["Properties"]["KeyPolicy"])
    (org_wide,) = [s for s in policy["Statement"] if s["Principal"] == {"AWS": "*"}]
    assert org_wide["Action"] == ["kms:Decrypt", "kms:DescribeKey"]
    assert org_wide["Condition"]["StringEquals"] == {"aws:PrincipalOrgID": "o-exampleorg1"}
    like = org_wide["Condition"]["StringLike"]
    assert like["kms:ViaService"] == "secretsmanager.*.amazonaws.com"
    pattern = like["kms:EncryptionContext:SecretARN"]
    assert (
        pattern
        == "arn:aws:secretsmanager:*:222222222222:secret:keyrotate/${aws:PrincipalAccount}/*"
    )

    def decrypts(caller_account: str, secret_arn: str) -> bool:
        # IAM substitutes the policy variable with the caller's account, then matches.
        return fnmatchcase(secret_arn, pattern.replace("${aws:PrincipalAccount}", caller_account))

    own = "arn:aws:secretsmanager:eu-west-1:222222222222:secret:keyrotate/333333333333/app-AbCdEf"
    assert decrypts("333333333333", own)
    assert not decrypts("444444444444", own)
    # Secret names start with the owning account (the only name form the deployment allows).
    assert Settings().secret_name_format.startswith("keyrotate/{account_id}/")


# ---- mail: only to the allowed domains ------------------------------------------------------
def test_the_functions_may_mail_only_the_allowed_domains_through_ses() -> None:
    stack = _main_stack(AllowedEmailDomains="example.com,example.org")
    for role in ("RotationRole", "DigestRole"):
        send = resolved_statement(stack, role, "SendMailThroughSes")
        assert send["Condition"]["ForAllValues:StringLike"] == {
            "ses:Recipients": ["*@example.com", "*@example.org"]
        }, role
        assert send["Condition"]["StringEquals"] == {"ses:FromAddress": "security@example.com"}


@pytest.mark.parametrize(
    "address",
    [
        "ann@example.com",
        "ann@example.org",
        "ann@Example.com",  # IAM compares case-sensitively; the code sends domains lowered
        "ann@mail.example.com",
        "ann@example.com.evil.test",
        "ann@evilexample.com",
        "ann@evil.test",
    ],
)
def test_the_code_and_iam_agree_on_every_recipient(address: str) -> None:
    domains = ("example.com", "example.org")
    iam_allows = any(fnmatchcase(address, f"*@{d}") for d in domains)
    assert recipient_allowed(address, domains) is iam_allows


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("example.com", True),
        ("mail.example.co.uk", True),
        ("Example.com", False),  # the pattern IAM gets must be the code's, lower case
        ("*.example.com", False),
        ("@example.com", False),
        ("localhost", False),
    ],
)
def test_allowed_email_domains_is_required_and_holds_plain_domains(
    value: str, accepted: bool
) -> None:
    parameter = load_template("main.yaml")["Parameters"]["AllowedEmailDomains"]
    assert "Default" not in parameter
    assert bool(re.fullmatch(parameter["AllowedPattern"], value)) is accepted


# ---- tier 0: what runs in the deployment account ---------------------------------------------
def test_the_functions_run_only_signed_code_when_signing_profiles_are_given() -> None:
    template = load_template("main.yaml")
    resources = template["Resources"]
    signing = resources["CodeSigning"]
    assert signing["Condition"] == "SignedCode"
    assert signing["Properties"]["CodeSigningPolicies"] == {
        "UntrustedArtifactOnDeployment": "Enforce"
    }
    for name, resource in resources.items():
        if resource["Type"] == "AWS::Lambda::Function":
            assert resource["Properties"]["CodeSigningConfigArn"] == {
                "Fn::If": [
                    "SignedCode",
                    {"Fn::GetAtt": ["CodeSigning", "CodeSigningConfigArn"]},
                    {"Ref": "AWS::NoValue"},
                ]
            }, name
