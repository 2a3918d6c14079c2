"""The code's copy of IAM's fences around protected users (keyrotate.domain.protection).

The copy must agree with what member-role.yaml makes IAM enforce: the same tag key, ARN
patterns matched as IAM matches a Resource element, the same managed path, and settings that
accept exactly the values the template accepts.
"""

from __future__ import annotations

import re

import pytest

from keyrotate.config.settings import Settings
from keyrotate.domain.errors import InputError
from keyrotate.domain.models import Exemption
from keyrotate.domain.protection import PROTECTION_TAG, arn_like, protection_of, user_path
from tests.functional.deployed_env import DEPLOY, load_template

ACCOUNT = "111122223333"


def arn(resource: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{resource}"


@pytest.mark.parametrize(
    ("pattern", "resource", "matches"),
    [
        ("arn:aws:iam::*:user/breakglass/*", "breakglass/ann", True),
        ("arn:aws:iam::*:user/breakglass/*", "breakglass/eu/ann", True),  # * crosses "/"
        ("arn:aws:iam::*:user/breakglass/*", "ops/breakglass", False),
        ("arn:aws:iam::*:user/admin", "admin", True),
        ("arn:aws:iam::*:user/admin", "ops/admin", False),  # a name at the root path only
        ("arn:aws:iam::*:user/*/admin", "ops/admin", True),
        ("arn:aws:iam::*:user/admin-?", "admin-1", True),
        ("arn:aws:iam::*:user/admin-?", "admin-12", False),
        ("arn:aws:iam::*:user/Admin", "admin", False),  # case-sensitive, as IAM
        (f"arn:aws:iam::{ACCOUNT}:user/a.b", "a.b", True),
        (f"arn:aws:iam::{ACCOUNT}:user/a.b", "axb", False),  # "." is no wildcard
        ("arn:aws:iam::999999999999:user/admin", "admin", False),
    ],
)
def test_arn_patterns_match_as_in_an_iam_resource_element(
    pattern: str, resource: str, matches: bool
) -> None:
    assert arn_like(pattern, arn(resource)) is matches


def test_the_protection_tag_is_the_one_member_role_yaml_names() -> None:
    text = (DEPLOY / "member-role.yaml").read_text(encoding="utf-8")
    assert f"aws:ResourceTag/{PROTECTION_TAG}" in text
    assert protection_of(arn("app"), {PROTECTION_TAG: ""}, (), "/") is not None


@pytest.mark.parametrize(
    ("resource", "path"), [("ann", "/"), ("ops/ann", "/ops/"), ("a/b/ann", "/a/b/")]
)
def test_the_path_of_a_user_comes_from_its_arn(resource: str, path: str) -> None:
    assert user_path(arn(resource)) == path


def test_only_users_under_the_managed_path_may_be_changed() -> None:
    assert protection_of(arn("svc/ann"), {}, (), "/svc/") is None
    assert protection_of(arn("svc/deep/ann"), {}, (), "/svc/") is None
    assert protection_of(arn("ann"), {}, (), "/svc/") == "outside ManagedUserPath /svc/"
    assert protection_of(arn("svcx/ann"), {}, (), "/svc/") is not None


def test_the_scan_puts_iams_fences_before_any_exemption_the_code_keeps() -> None:
    from keyrotate.aws.iam import IamUser
    from keyrotate.service.options import RunOptions
    from keyrotate.service.scan import exemption_of

    options = RunOptions.from_settings(
        Settings(protected_user_arns="arn:aws:iam::*:user/breakglass/*"), "us-east-1"
    )
    guarded = IamUser("ann", arn("breakglass/ann"))
    expired = {options.exemption_tag: "until=2000-01-01;reason=gone"}
    assert exemption_of(guarded, expired, {"ann"}, options) == Exemption(
        "protected", "listed in ProtectedUserArns (arn:aws:iam::*:user/breakglass/*)"
    )
    plain = IamUser("bob", arn("bob"))
    assert exemption_of(plain, {}, {"bob"}, options) == Exemption(
        "group", f"member of {options.exemption_group}", scope=options.exemption_group
    )
    assert exemption_of(plain, {}, set(), options) is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ProtectedUserArns", "arn:aws:iam::*:user/breakglass/*"),
        ("ProtectedUserArns", "arn:aws-cn:iam::123456789012:user/x?"),
        ("ProtectedUserArns", "arn:aws:iam::*:role/admin"),
        ("ProtectedUserArns", "breakglass/*"),
        ("ManagedUserPath", "/"),
        ("ManagedUserPath", "/service-accounts/"),
        ("ManagedUserPath", "service-accounts/"),
        ("ManagedUserPath", "/a"),
    ],
)
def test_the_settings_accept_exactly_what_the_templates_accept(name: str, value: str) -> None:
    pattern = load_template("member-role.yaml")["Parameters"][name]["AllowedPattern"]
    field = {"ProtectedUserArns": "protected_user_arns", "ManagedUserPath": "managed_user_path"}
    template_accepts = bool(re.fullmatch(pattern, value))
    try:
        Settings(**{field[name]: value})
    except (InputError, ValueError):
        settings_accept = False
    else:
        settings_accept = True
    assert settings_accept is template_accepts
