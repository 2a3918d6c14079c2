"""SSM Parameter Store adapter: read one SecureString (the SMTP user and password).

The value is decrypted by SSM (``WithDecryption=True``). It is returned to the caller and
never logged, and no error raised here carries it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from keyrotate.domain.errors import AccessDenied, AwsError

if TYPE_CHECKING:
    from boto3.session import Session
    from mypy_boto3_ssm import SSMClient

# kms:Decrypt is needed when the SecureString is encrypted with a customer-managed KMS key;
# with the AWS-managed aws/ssm key SSM decrypts on the caller's behalf without it.
PERMISSIONS: tuple[str, ...] = ("ssm:GetParameter", "kms:Decrypt")


def make_client(session: Session | None = None, region: str | None = None) -> SSMClient:
    return (session or boto3.Session()).client("ssm", region_name=region or None)


def get_secure_parameter(name: str, *, client: SSMClient | None = None) -> str:
    """The decrypted value of parameter ``name``."""
    ssm = client or make_client()
    try:
        response = ssm.get_parameter(Name=name, WithDecryption=True)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        kind = AccessDenied if code in {"AccessDenied", "AccessDeniedException"} else AwsError
        raise kind("ssm:GetParameter", code, f"parameter {name!r}: {code}") from exc
    except BotoCoreError as exc:
        raise AwsError("ssm:GetParameter", type(exc).__name__, str(exc)) from exc
    return response["Parameter"].get("Value", "")
