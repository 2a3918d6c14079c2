"""Which KMS key each secrets mode names, and which user names a secret can hold.

The refusals themselves (exit 2, field named) are rows of tests/unit/test_config_errors.py;
these tests pin what the accepted settings turn into.
"""

from __future__ import annotations

import pytest

from keyrotate.config import load_settings
from keyrotate.domain.errors import InputError
from keyrotate.domain.kms_keys import is_key_identifier, is_multi_region, key_in_region
from keyrotate.domain.secret_names import is_secret_name
from keyrotate.service.options import RunOptions

CENTRAL = "444455556666"
MRK = "mrk-0123456789abcdef0123456789abcdef"
PRIMARY = f"arn:aws:kms:us-east-1:{CENTRAL}:key/{MRK}"
SINGLE = f"arn:aws:kms:us-east-1:{CENTRAL}:key/12345678-90ab-cdef-1234-567890abcdef"


def central(**more: str) -> dict[str, str]:
    return {
        "StoreSecretsInCentralAccount": "True",
        "CentralAccount": CENTRAL,
        "SecretsKmsKeyId": PRIMARY,
        **more,
    }


def test_a_replica_is_encrypted_with_the_multi_region_keys_replica_in_its_region() -> None:
    assert key_in_region(PRIMARY, "eu-west-1") == f"arn:aws:kms:eu-west-1:{CENTRAL}:key/{MRK}"
    china = f"arn:aws-cn:kms:cn-north-1:{CENTRAL}:key/{MRK}"
    assert key_in_region(china, "cn-northwest-1") == (
        f"arn:aws-cn:kms:cn-northwest-1:{CENTRAL}:key/{MRK}"
    )


@pytest.mark.parametrize("identifier", ["alias/team-secrets", MRK, None])
def test_an_alias_a_bare_id_or_the_default_key_is_resolved_in_each_region_as_given(
    identifier: str | None,
) -> None:
    assert key_in_region(identifier, "eu-west-1") == identifier


@pytest.mark.parametrize(
    ("identifier", "multi_region"),
    [
        (PRIMARY, True),
        (MRK, True),
        (SINGLE, False),
        ("12345678-90ab-cdef-1234-567890abcdef", False),
        ("alias/mrk-lookalike", False),
        (f"arn:aws:kms:us-east-1:{CENTRAL}:alias/mrk-lookalike", False),
    ],
)
def test_only_a_multi_region_key_id_counts_as_multi_region(
    identifier: str, multi_region: bool
) -> None:
    assert is_key_identifier(identifier)
    assert is_multi_region(identifier) is multi_region


@pytest.mark.parametrize(
    "identifier",
    [
        "",
        "my-key",
        "alias/",
        "alias/with space",
        "arn:aws:kms:us-east-1:1:key/x",
        "mrk-12345678-90ab-cdef-1234-567890abcdef",  # moto's form; AWS's has no dashes
    ],
)
def test_what_is_not_a_kms_key_identifier(identifier: str) -> None:
    assert not is_key_identifier(identifier)


def test_member_mode_names_no_key_by_default_so_each_account_uses_aws_secretsmanager() -> None:
    settings = load_settings(None, {}, {})
    assert settings.secrets_kms_key is None
    assert RunOptions.from_settings(settings, "us-east-1").kms_key_id is None


def test_member_mode_names_the_operators_alias_resolved_in_each_member_account() -> None:
    settings = load_settings(None, {"MemberSecretsKmsKeyAlias": "alias/team-secrets"}, {})
    assert RunOptions.from_settings(settings, "us-east-1").kms_key_id == "alias/team-secrets"


def test_central_mode_names_the_central_key_and_accepts_replicas_of_a_multi_region_key() -> None:
    env = central(AWS_REGION="us-east-1", CredentialReplicationRegions="eu-west-1,us-west-2")
    options = RunOptions.from_settings(load_settings(None, env, {}), "us-east-1")
    assert options.kms_key_id == PRIMARY
    assert options.central_account == CENTRAL
    assert options.replica_regions == ("eu-west-1", "us-west-2")


def test_a_single_region_central_key_is_fine_without_replicas() -> None:
    settings = load_settings(None, central(SecretsKmsKeyId=SINGLE), {})
    assert RunOptions.from_settings(settings, "us-east-1").kms_key_id == SINGLE


def test_the_central_keys_region_is_checked_once_the_home_region_is_known() -> None:
    settings = load_settings(None, central(), {})  # no region configured: the profile's
    with pytest.raises(InputError, match="home region eu-west-1") as caught:
        RunOptions.from_settings(settings, "eu-west-1")
    assert caught.value.field == "secrets_kms_key_id"


@pytest.mark.parametrize(
    "name",
    [
        "keyrotate/123456789012/svc.batch",
        "keyrotate/123456789012/a+b=c@d_e-f",
        "keyrotate/123456789012/ci-runner",  # ends "-" + six characters: advice, not a rule
        "x" * 512,
    ],
)
def test_names_secrets_manager_accepts(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["keyrotate/123456789012/svc,batch", "", "x" * 513, "keyrotate/a b", "ключ"]
)
def test_names_secrets_manager_refuses(name: str) -> None:
    assert not is_secret_name(name)
