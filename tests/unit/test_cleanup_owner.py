"""Whose secret is it: only a secret keyrotate wrote, for this account, under a name the
format could have made, is ever judged (and so ever deleted) by the clean-up."""

from __future__ import annotations

import pytest

from keyrotate.aws.secrets import SecretInfo
from keyrotate.config import Settings
from keyrotate.domain.state_tags import ACCOUNT_TAG, HELD_KEY_TAG, USER_NAME_TAG
from keyrotate.service.cleanup import secret_owner
from keyrotate.service.options import RunOptions

ACCOUNT = "111122223333"
OPTIONS = RunOptions.from_settings(Settings(), "us-east-1")
LOOSE = RunOptions.from_settings(Settings(secret_name_format="keyrotate/{user_name}"), "us-east-1")


def info(name: str, **tags: str) -> SecretInfo:
    return SecretInfo(
        name=name, arn=f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{name}", tags=tags
    )


@pytest.mark.parametrize(
    ("secret", "options", "owner"),
    [
        (info("keyrotate/111122223333/alice", **{USER_NAME_TAG: "alice"}), OPTIONS, "alice"),
        (info("keyrotate/111122223333/alice", **{HELD_KEY_TAG: "AKIA1"}), OPTIONS, "alice"),
        # not keyrotate's: it shares the prefix and nothing else
        (info("keyrotate/111122223333/alice"), OPTIONS, None),
        (info("keyrotate/config"), LOOSE, None),
        # another account's, in a central account
        (
            info(
                "keyrotate/111122223333/alice",
                **{USER_NAME_TAG: "alice", ACCOUNT_TAG: "999988887777"},
            ),
            OPTIONS,
            None,
        ),
        # the tags and the name disagree
        (info("keyrotate/111122223333/alice", **{USER_NAME_TAG: "bob"}), OPTIONS, None),
        # a name the format cannot have made, without the user-name tag
        (info("other/alice", **{HELD_KEY_TAG: "AKIA1"}), OPTIONS, None),
    ],
)
def test_only_keyrotates_own_secrets_of_this_account_have_an_owner(
    secret: SecretInfo, options: RunOptions, owner: str | None
) -> None:
    assert secret_owner(secret.name, secret, ACCOUNT, options) == owner
