"""S3 adapter: read one small text object (an operator's e-mail template override).

``expected_owner``: S3 refuses the read (403) unless the bucket belongs to that account, so a
bucket deleted and re-created under the same name by someone else cannot feed the functions
a template (deploy/README.md, tier 0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from keyrotate.aws.errors import translate
from keyrotate.aws.session import service_client
from keyrotate.domain.errors import AwsError

if TYPE_CHECKING:
    from boto3.session import Session
    from mypy_boto3_s3 import S3Client

PERMISSIONS: tuple[str, ...] = ("s3:GetObject",)


def make_client(session: Session | None = None, region: str | None = None) -> S3Client:
    client: S3Client = service_client("s3", session, region)
    return client


def parse_s3_url(url: str) -> tuple[str, str] | None:
    """``s3://bucket/key`` → ``(bucket, key)``; ``None`` when ``url`` is not of that form."""
    parts = urlsplit(url)
    key = parts.path.lstrip("/")
    if parts.scheme != "s3" or not parts.netloc or not key or parts.query or parts.fragment:
        return None
    return parts.netloc, key


def get_object_text(
    bucket: str, key: str, *, client: S3Client | None = None, expected_owner: str | None = None
) -> str:
    """The object's body decoded as UTF-8; from ``expected_owner``'s bucket only, if given."""
    s3 = client or make_client()
    with translate("s3:GetObject"):
        if expected_owner:
            response = s3.get_object(Bucket=bucket, Key=key, ExpectedBucketOwner=expected_owner)
        else:
            response = s3.get_object(Bucket=bucket, Key=key)
        body = response["Body"].read()
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AwsError("s3:GetObject", "NotUtf8", f"s3://{bucket}/{key} is not UTF-8") from exc
