"""Security Hub adapter: keyrotate's findings (ASFF) in the calling account's hub.

With the account's default product (``product/<account>/default``), Security Hub accepts a
finding only from the account it names in ``AwsAccountId``: findings are imported into the
account keyrotate runs in (the deployment account), each naming the key's own account in its
resource and product fields (keyrotate.service.findings). BatchImportFindings takes at most
100 findings per call and answers per finding; failures are returned, never raised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from keyrotate.aws.errors import translate
from keyrotate.aws.session import service_client
from keyrotate.domain.errors import AwsError

if TYPE_CHECKING:
    from boto3.session import Session
    from mypy_boto3_securityhub import SecurityHubClient

PERMISSIONS: tuple[str, ...] = ("securityhub:BatchImportFindings", "securityhub:GetFindings")

MAX_FINDINGS_PER_CALL = 100
GENERATOR_ID = "keyrotate"

Finding = Mapping[str, Any]


def make_client(session: Session | None = None, region: str | None = None) -> SecurityHubClient:
    client: SecurityHubClient = service_client("securityhub", session, region)
    return client


def product_arn(partition: str, region: str, account_id: str) -> str:
    return f"arn:{partition}:securityhub:{region}:{account_id}:product/{account_id}/default"


class FindingsHub:
    """The hub of one account and region, as keyrotate's findings provider."""

    def __init__(
        self, client: SecurityHubClient, *, account_id: str, region: str, partition: str
    ) -> None:
        self._client = client
        self.account_id = account_id
        self.region = region
        self.partition = partition
        self.product_arn = product_arn(partition, region, account_id)

    def active(self, id_prefix: str) -> dict[str, dict[str, Any]]:
        """keyrotate's active findings whose Id starts with ``id_prefix``, by Id.

        The filters are applied again here: a hub (or an emulator) that ignores one must not
        make another account's findings look fixed.
        """
        filters: Any = {
            "ProductArn": [{"Value": self.product_arn, "Comparison": "EQUALS"}],
            "GeneratorId": [{"Value": GENERATOR_ID, "Comparison": "EQUALS"}],
            "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
            "Id": [{"Value": id_prefix, "Comparison": "PREFIX"}],
        }
        found: dict[str, dict[str, Any]] = {}
        with translate("securityhub:GetFindings", "allow securityhub:GetFindings on the hub"):
            pages = self._client.get_paginator("get_findings").paginate(
                Filters=filters, PaginationConfig={"PageSize": 100}
            )
            for page in pages:
                for finding in page["Findings"]:
                    item: dict[str, Any] = dict(finding)
                    if (
                        item.get("GeneratorId") == GENERATOR_ID
                        and item.get("ProductArn") == self.product_arn
                        and item.get("RecordState", "ACTIVE") == "ACTIVE"
                        and str(item.get("Id", "")).startswith(id_prefix)
                    ):
                        found[str(item["Id"])] = item
        return found

    def put(self, findings: Sequence[Finding]) -> list[str]:
        """Import (create or update) ``findings``; one description per finding refused."""
        failures: list[str] = []
        for start in range(0, len(findings), MAX_FINDINGS_PER_CALL):
            batch: Any = list(findings[start : start + MAX_FINDINGS_PER_CALL])
            try:
                with translate(
                    "securityhub:BatchImportFindings",
                    f"allow securityhub:BatchImportFindings on {self.product_arn}",
                ):
                    response = self._client.batch_import_findings(Findings=batch)
            except AwsError as exc:
                failures.extend(f"{f['Id']}: {exc}" for f in batch)
                continue
            failures.extend(
                f"{f.get('Id')}: {f.get('ErrorCode')}: {f.get('ErrorMessage')}"
                for f in response.get("FailedFindings", [])
            )
        return failures
