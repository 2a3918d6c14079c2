"""SSM Parameter Store adapter: read one parameter (the SMTP user and password, the kill
switch).

A SecureString is decrypted by SSM (``WithDecryption=True``). Its value is returned to the
caller and never logged, and no error raised here carries it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keyrotate.aws.errors import translate
from keyrotate.aws.session import service_client
from keyrotate.domain.errors import AwsError

if TYPE_CHECKING:
    from boto3.session import Session
    from mypy_boto3_ssm import SSMClient

# kms:Decrypt is needed when the SecureString is encrypted with a customer-managed KMS key;
# with the AWS-managed aws/ssm key SSM decrypts on the caller's behalf without it.
PERMISSIONS: tuple[str, ...] = ("ssm:GetParameter", "kms:Decrypt")


def make_client(session: Session | None = None, region: str | None = None) -> SSMClient:
    client: SSMClient = service_client("ssm", session, region)
    return client


def get_secure_parameter(name: str, *, client: SSMClient | None = None) -> str:
    """The decrypted value of parameter ``name``."""
    ssm = client or make_client()
    with translate("ssm:GetParameter"):
        response = ssm.get_parameter(Name=name, WithDecryption=True)
    return response["Parameter"].get("Value", "")


def read_parameter(name: str, *, client: SSMClient | None = None) -> str | None:
    """The value of parameter ``name``; ``None`` when no such parameter exists.

    Any other failure (denied, throttled past the retries) raises
    :class:`~keyrotate.domain.errors.AwsError`: the caller decides what not knowing means.
    """
    ssm = client or make_client()
    try:
        with translate("ssm:GetParameter"):
            response = ssm.get_parameter(Name=name, WithDecryption=True)
    except AwsError as exc:
        if exc.code == "ParameterNotFound":
            return None
        raise
    return response["Parameter"].get("Value", "")
