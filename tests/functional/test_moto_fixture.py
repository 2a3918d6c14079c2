"""The moto fixture is real HTTP and is reset between tests."""

from __future__ import annotations

import boto3


def test_endpoint_serves_iam_over_http(moto_endpoint: str) -> None:
    iam = boto3.client("iam")
    iam.create_user(UserName="alice")
    assert moto_endpoint.startswith("http://127.0.0.1:")
    assert [u["UserName"] for u in iam.list_users()["Users"]] == ["alice"]


def test_state_is_reset_between_tests(moto_endpoint: str) -> None:
    assert boto3.client("iam").list_users()["Users"] == []
