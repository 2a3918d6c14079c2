"""Reading a user's own secret as that user: the consumer's side of a rotation.

``keyrotate credentials`` (:mod:`keyrotate.service.credentials`) calls this with the access key
it last handed out, or with the standard credential chain the first time. The principal here
is the IAM user whose key is rotated, not a keyrotate role: member-role.yaml's read-own-secret
policy grants it exactly ``PERMISSIONS`` on its own secret.

The secret's value is the JSON keyrotate writes (AccessKeyId, SecretAccessKey, UserName,
CreateDate); only the key pair is taken from it, the secret half wrapped in
:class:`SecretText` at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from keyrotate.aws.errors import translate
from keyrotate.domain.errors import AwsError, InputError
from keyrotate.domain.secret import SecretText

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

PERMISSIONS: tuple[str, ...] = ("secretsmanager:GetSecretValue",)

# A credential helper runs before every consumer start: retry a throttle, but do not keep a
# consumer waiting a minute on a dead endpoint.
_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=5,
    read_timeout=10,
    user_agent_extra="keyrotate-credentials",
)
SECRET_NOT_FOUND = "ResourceNotFoundException"


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An access key id with its secret half (never shown by repr)."""

    access_key_id: str
    secret_access_key: SecretText


@dataclass(frozen=True, slots=True)
class SecretKey:
    """The key a user's secret holds now (its AWSCURRENT version)."""

    key: KeyPair
    version_id: str
    arn: str


class NotAKeySecret(AwsError):
    """The secret exists but does not hold a keyrotate key (no AccessKeyId/SecretAccessKey)."""


def session_for(key: KeyPair | None, *, profile: str | None, region: str | None) -> boto3.Session:
    """A session signing with ``key``, or the standard chain (``profile``) when None."""
    try:
        if key is None:
            return boto3.Session(profile_name=profile, region_name=region)
        return boto3.Session(
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key.reveal(),
            region_name=region,
        )
    except BotoCoreError as exc:  # ProfileNotFound and friends
        raise InputError(
            "profile", profile, f"{exc}; name a profile from ~/.aws/config or leave it out"
        ) from exc


def read_key(session: boto3.Session, secret_id: str, region: str | None) -> SecretKey:
    """The key pair in ``secret_id``'s current version, read with ``session``'s credentials.

    Raises :class:`AwsError` (code ``ResourceNotFoundException`` when there is no such secret,
    or no value yet) or :class:`NotAKeySecret`.
    """
    with translate("secretsmanager:GetSecretValue"):
        client: SecretsManagerClient = session.client(
            "secretsmanager", region_name=region, config=_CONFIG
        )
        response = client.get_secret_value(SecretId=secret_id)
    try:
        body = json.loads(response.get("SecretString") or "")
        key = KeyPair(str(body["AccessKeyId"]), SecretText(str(body["SecretAccessKey"])))
    except (ValueError, TypeError, KeyError):
        # Never the value itself in the message: it may hold anything.
        raise NotAKeySecret(
            "secretsmanager:GetSecretValue",
            "NotAKeySecret",
            f"{secret_id} does not hold a keyrotate key (JSON with AccessKeyId and "
            "SecretAccessKey); name the secret keyrotate writes for this user",
        ) from None
    return SecretKey(key=key, version_id=response["VersionId"], arn=response["ARN"])
