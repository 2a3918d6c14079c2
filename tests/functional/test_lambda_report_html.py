"""The digest Lambda keeps the run's HTML page beside its JSON report in S3, both with the
run's metadata (docs/readers.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from keyrotate.lambda_handlers import digest_handler
from keyrotate_emulator.server import EmulatorServer

BUCKET = "keyrotate-reports-html"
PREFIX = "runs/"


class _Context:
    function_name = "keyrotate-digest"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:keyrotate-digest"
    aws_request_id = "00000000-0000-0000-0000-000000000000"


pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


def test_digest_writes_report_html_beside_report_json(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in {
        "IAMRoleName": "keyrotate-member",
        "ReportBucket": BUCKET,
        "ReportPrefix": PREFIX,
        "EmailTransport": "file",
        "MailDir": str(tmp_path),
        "RotationPeriod": "60",
        "InactivePeriod": "75",
        "DeletePeriod": "90",
        "POWERTOOLS_SERVICE_NAME": "keyrotate",
        "POWERTOOLS_METRICS_NAMESPACE": "keyrotate",
    }.items():
        monkeypatch.setenv(name, value)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    crashed = {
        "account_id": "210987654321",
        "name": "prod-web",
        "status": "failed",
        "error": "Lambda.Unknown",
        "cause": json.dumps({"errorMessage": "Task timed out after 900.00 seconds"}),
    }
    event: dict[str, Any] = {
        "run_id": "run-html",
        "mode": "audit",
        "started_at": datetime.now(UTC).isoformat(),
        "skipped": [],
        "results": [crashed],
    }
    digest = digest_handler(event, _Context())
    assert digest["report_key"] == f"{PREFIX}run-html/report.json"
    report = json.loads(s3.get_object(Bucket=BUCKET, Key=digest["report_key"])["Body"].read())
    assert report["run"]["run_id"] == "run-html"
    assert report["run"]["policy"]["rotate_after_days"] == 60
    page = s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}run-html/report.html")
    assert page["ContentType"].startswith("text/html")
    html = page["Body"].read().decode("utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "run-html" in html
    assert "rotate at 60 days" in html
    assert "Task timed out" in html  # the failed account, in the actions by account
    assert "https://" not in html
