"""SSM Parameter Store adapter: read one SecureString (the SMTP user and password).

The value is decrypted by SSM (``WithDecryption=True``). It is returned to the caller and
never logged, and no error raised here carries it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keyrotate.aws.errors import translate
from keyrotate.aws.session import service_client

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
