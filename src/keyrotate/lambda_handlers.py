"""AWS Lambda entry points of the Step Functions run (``deploy/main.yaml`` names them).

Each handler: parse and validate the event, call :mod:`keyrotate.service.lambda_flow`,
return a dict. Settings come from the function's environment (the pattern's names:
``DryRunFlag``, ``IAMRoleName``, ``ReportBucket``, ...).

Errors, one handled form: a malformed event raises
:class:`keyrotate.service.lambda_events.EventError` and a bad environment raises
:class:`keyrotate.config.SettingsError` (both :class:`~keyrotate.domain.errors.InputError`,
whose message names the field, the value and the fix) before any AWS call. Step Functions
records the error name (``EventError``), the Map's Catch turns it into that account's
failure, and the run goes on. An account that cannot be worked on (role not assumable,
calls denied) is not an error: rotate_account returns it with ``status: failed``.

Powertools for AWS Lambda (the ``lambda`` extra; imported here only): JSON logs carrying
the run id and the account id, and the run's EMF metrics from the digest.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from keyrotate.domain.errors import InputError
from keyrotate.logredact import protect
from keyrotate.service import lambda_flow
from keyrotate.service.context import RunContext
from keyrotate.service.lambda_events import (
    DigestEvent,
    InventoryEvent,
    RotateAccountEvent,
    parse_event,
)

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "keyrotate")
logger = Logger(service=SERVICE)
# The service is a dimension of every metric: main.yaml's alarms name it with the mode.
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "keyrotate"), service=SERVICE
)
# The service logs through the standard library; give those lines the same JSON shape.
copy_config_to_registered_loggers(source_logger=logger, include={"keyrotate"})
logging.getLogger("keyrotate").setLevel(logging.INFO)
# Whatever level the function logs at (AWS_LAMBDA_LOG_LEVEL=DEBUG sets the root logger's):
# botocore's wire loggers never write a body, and both ways out, Powertools' handler and
# the runtime's handler on the root logger, redact secrets.
protect(logger.handlers)

#: metric name -> field of the digest's result; every metric is a count of the whole run.
RUN_METRICS: dict[str, str] = {
    "KeysRotated": "keys_rotated",
    "KeysDeactivated": "keys_deactivated",
    "KeysDeleted": "keys_deleted",
    "Holds": "holds",
    "Blocked": "blocked",
    "AccountsFailed": "accounts_failed",
    "KeysPastRotation": "keys_past_rotation",
    # the guardrails (docs/guardrails.md); main.yaml alarms on KillSwitchOpen
    "ActionsDeferred": "deferred",
    "KillSwitchOpen": "kill_switch_open",
    "BreakerTrips": "breaker_trips",
    # accounts whose function ran short of time: their rest waits for the next run
    "AccountsCutShort": "cut_short_accounts",
}

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]
_H = TypeVar("_H", bound=Handler)


def _logging_input_errors(handler: _H) -> _H:
    """Log a rejected event or setting as one structured line, then let it propagate."""

    def wrapper(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        try:
            return handler(event, context)
        except InputError as exc:
            logger.error(
                "input rejected, nothing done",
                extra={"error_type": type(exc).__name__, "field": exc.field, "fix": exc.fix},
            )
            raise

    wrapper.__name__ = handler.__name__
    wrapper.__doc__ = handler.__doc__
    return wrapper  # type: ignore[return-value]


@logger.inject_lambda_context(clear_state=True)
@_logging_input_errors
def inventory_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """List the accounts in scope (Map items inline, or in S3 for the distributed map)."""
    parsed = parse_event(InventoryEvent, event)
    logger.append_keys(run_id=parsed.run_id)
    settings = lambda_flow.settings_for(parsed.request.mode, os.environ)
    run = RunContext.from_settings(settings, parsed.run_id)
    result = lambda_flow.inventory(run, parsed.map_mode)
    logger.info(
        "inventory listed",
        extra={
            "mode": result.mode,
            "map_mode": parsed.map_mode,
            "accounts": result.accounts_in_scope,
            "skipped": len(result.skipped),
        },
    )
    return result.model_dump(mode="json")  # what the Map and the digest parse back


@logger.inject_lambda_context(clear_state=True)
@_logging_input_errors
def rotate_account_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Scan, plan, act, store and notify one account; return its summary."""
    parsed = parse_event(RotateAccountEvent, event)
    logger.append_keys(run_id=parsed.run_id, account_id=parsed.account.account_id)
    settings = lambda_flow.settings_for(parsed.mode, os.environ)
    run = RunContext.from_settings(settings, parsed.run_id)
    # Lambda's deadline, less a margin: the rest of the account is deferred, the item succeeds.
    # A context without the method (a local harness, not Lambda) sets no deadline.
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is not None:
        lambda_flow.follow_lambda_deadline(run, remaining)
    item = lambda_flow.rotate_one(run, parsed.account)
    summary = item.model_dump(mode="json")  # what the digest parses back as that model
    logger.info(
        "account done",
        extra={
            "status": summary["status"],
            "error": summary["error"],
            "actions": summary["actions"],
            "report_key": summary["report_key"],
            "cut_short": summary["cut_short_accounts"] > 0,
        },
    )
    return summary


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@_logging_input_errors
def digest_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """All accounts in: admin digest, run report in S3, the run's metrics."""
    parsed = parse_event(DigestEvent, event)
    logger.append_keys(run_id=parsed.run_id)
    settings = lambda_flow.settings_for(parsed.mode, os.environ)
    run = RunContext.from_settings(settings, parsed.run_id)
    result = lambda_flow.digest(run, parsed)
    metrics.add_dimension(name="mode", value=parsed.mode)
    for name, field in RUN_METRICS.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=getattr(result, field))
    logger.info(
        "run digested",
        extra={
            "accounts": result.accounts,
            "accounts_failed": result.accounts_failed,
            "report_key": result.report_key,
            "detail": result.detail,
        },
    )
    return result.model_dump(mode="json")
