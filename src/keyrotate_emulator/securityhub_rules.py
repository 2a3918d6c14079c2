"""Security Hub takes a finding only from the account it is about; moto takes any.

With an account's default product (``arn:<partition>:securityhub:<region>:<account>:product/
<account>/default``), AWS accepts ``BatchImportFindings`` only when the calling account is the
finding's ``AwsAccountId`` and the product is the caller's own (partner integrations aside,
which keyrotate is not). moto stores whatever it is sent, so a product importing findings
"about" member accounts from the deployment account would pass its tests and fail in AWS.

The emulator refuses such a call as a whole with ``AccessDeniedException`` (HTTP 403), naming
the first finding at fault; AWS's exact wording is not documented per case.
"""

from __future__ import annotations

import json

from keyrotate_emulator._wsgi import Refusal

IMPORT_OPERATION = "POST /findings/import"


def import_refusal(body: bytes, caller: str) -> Refusal | None:
    """The refusal AWS would give ``caller``'s BatchImportFindings, or None to let it pass."""
    try:
        findings = json.loads(body or b"{}").get("Findings", [])
    except (ValueError, AttributeError):
        return None  # malformed: moto answers that itself
    own_product = f":{caller}:product/{caller}/default"
    for finding in findings if isinstance(findings, list) else []:
        if not isinstance(finding, dict):
            continue
        account = finding.get("AwsAccountId")
        product = str(finding.get("ProductArn", ""))
        if account != caller or not product.endswith(own_product):
            return Refusal(
                code="AccessDeniedException",
                message=(
                    f"account {caller} may not import finding {finding.get('Id')!r} about "
                    f"account {account} with product {product}: with the default product, "
                    "a finding is imported by the account it names"
                ),
                status=403,
            )
    return None
