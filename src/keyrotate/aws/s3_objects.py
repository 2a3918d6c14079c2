"""S3 adapter for the run's own JSON objects in the report bucket (the Lambda deployment).

The account list of a distributed run, each account's detail, the Distributed Map's result
files and the run report all live under ``ReportPrefix`` in ``ReportBucket``. Kept apart from
:mod:`keyrotate.aws.s3` (operator templates, read-only) so each function's role is granted
exactly what its adapters call.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from keyrotate.aws.errors import translate
from keyrotate.aws.s3 import get_object_text
from keyrotate.domain.errors import AwsError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PERMISSIONS: tuple[str, ...] = ("s3:GetObject", "s3:PutObject")


def put_json(client: S3Client, bucket: str, key: str, document: object) -> str:
    """Write ``document`` as UTF-8 JSON at ``s3://bucket/key``; return the key.

    The bucket's default encryption (KMS in the deployment) applies; nothing is set here.
    """
    body = json.dumps(document, separators=(",", ":"), sort_keys=False).encode("utf-8")
    with translate("s3:PutObject", f"Fix: allow s3:PutObject on s3://{bucket}/{key}"):
        client.put_object(
            Bucket=bucket, Key=key, Body=body, ContentType="application/json; charset=utf-8"
        )
    return key


def put_text(client: S3Client, bucket: str, key: str, text: str, content_type: str) -> str:
    """Write ``text`` (UTF-8) at ``s3://bucket/key`` as ``content_type``; return the key."""
    with translate("s3:PutObject", f"Fix: allow s3:PutObject on s3://{bucket}/{key}"):
        client.put_object(
            Bucket=bucket,
            Key=key,
            Body=text.encode("utf-8"),
            ContentType=f"{content_type}; charset=utf-8",
        )
    return key


def get_json(client: S3Client, bucket: str, key: str) -> Any:
    """The JSON document at ``s3://bucket/key``."""
    text = get_object_text(bucket, key, client=client)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise AwsError(
            "s3:GetObject", "NotJson", f"s3://{bucket}/{key} is not JSON: {exc.msg}"
        ) from exc
