"""Execute Step Functions state machines in the emulator: moto's ASL interpreter, made usable.

moto ships an interpreter for the Amazon States Language (a port of LocalStack's), off by
default. :func:`executing_state_machines` turns it on in this process for the duration of a
block, together with what it needs to run keyrotate's state machine against the tests'
:class:`~keyrotate_emulator.server.EmulatorServer`:

- **where its AWS calls go.** The interpreter calls Lambda and S3 (a Task's ``lambda:invoke``,
  a distributed Map's ItemReader and ResultWriter) with boto3 clients of its own, aimed at
  ``localhost:$MOTO_PORT``. They are aimed at the emulator's URL instead, so they go through
  its middlewares (counted, faultable) like every other client. They are signed with fake
  keys, which moto maps to its default account (``123456789012``): the state machine's role is
  not assumed, so its policy is not exercised (docs/emulator.md).
- **retry waits.** A ``Retry`` waits its interval for real (``IntervalSeconds`` x
  ``BackoffRate`` ^ n, capped by ``MaxDelaySeconds``, then drawn from [0, interval] with
  ``JitterStrategy: FULL``). The wait is multiplied by ``retry_time_scale`` (default 0.001:
  2 s become 2 ms) and every interval asked for is recorded, unscaled
  (:attr:`Interpreter.retry_waits`), so a test can check the backoff without waiting it.
- **the ResultWriter.** moto's writes a ``manifest.json`` that lists no result file (the
  children's outputs are dropped). Here it writes what AWS writes: ``SUCCEEDED_0.json``, a
  JSON array of one record per child execution whose ``Output`` is that child's output as a
  JSON string, and a manifest listing it. A record has no ``Input``, and its
  ``ExecutionArn`` is made up: moto runs the children as threads of the parent, not as
  executions.

- **its grammar.** It reads ``ToleratedFailurePercentage`` only as a decimal (``100.0``), and
  AWS reads ``100`` as well: :func:`for_interpreter` rewrites it (the same JSON number).

Lambda functions run in-process through :class:`keyrotate_emulator.lambdas.LambdaRoutes`.
Everything here patches moto's modules in the process that serves moto; one interpreter at a
time.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

#: Retry waits are this fraction of what the definition asks for.
DEFAULT_RETRY_TIME_SCALE = 0.001


@dataclass
class Interpreter:
    """What :func:`executing_state_machines` lets a test read back."""

    retry_time_scale: float
    retry_waits: list[float] = field(default_factory=list)  # seconds asked for, unscaled
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _sleep(self, seconds: float) -> None:
        with self._lock:
            self.retry_waits.append(seconds)
        time.sleep(seconds * self.retry_time_scale)


_ACTIVE = threading.Lock()


@contextmanager
def executing_state_machines(
    emulator_url: str, *, retry_time_scale: float = DEFAULT_RETRY_TIME_SCALE
) -> Iterator[Interpreter]:
    """Within the block, ``StartExecution`` runs the definition (this process's moto)."""
    if not 0 <= retry_time_scale <= 1:
        raise ValueError(f"retry_time_scale must be within [0, 1], got {retry_time_scale}")
    port = urlsplit(emulator_url).port
    if port is None:
        raise ValueError(f"the emulator URL has no port: {emulator_url!r}")
    if not _ACTIVE.acquire(blocking=False):
        raise RuntimeError("state machines are already being executed in this process")
    interpreter = Interpreter(retry_time_scale)
    try:
        with ExitStack() as patches:
            _patch_config(patches)
            _patch_endpoint(patches, str(port))
            _patch_retry_sleep(patches, interpreter)
            _patch_result_writer(patches)
            yield interpreter
    finally:
        _ACTIVE.release()


def for_interpreter(definition: str) -> str:
    """The definition as moto's grammar reads it: the same JSON values (see above)."""

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: float(value)
                if key == "ToleratedFailurePercentage" and isinstance(value, int)
                else rewrite(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    return json.dumps(rewrite(json.loads(definition)))


def _patch(stack: ExitStack, owner: Any, name: str, value: Any) -> None:
    original = getattr(owner, name)
    setattr(owner, name, value)
    stack.callback(setattr, owner, name, original)


def _patch_config(stack: ExitStack) -> None:
    from moto.core.config import default_user_config

    section = default_user_config.setdefault("stepfunctions", {})
    before = section.get("execute_state_machine", False)
    section["execute_state_machine"] = True

    def restore() -> None:
        section["execute_state_machine"] = before

    stack.callback(restore)


def _patch_endpoint(stack: ExitStack, port: str) -> None:
    """``boto_client_for`` builds ``http://localhost:{moto_server_port()}``: name our port."""
    from moto.stepfunctions.parser.asl.utils import boto_client

    _patch(stack, boto_client, "moto_server_port", lambda: port)


def _patch_retry_sleep(stack: ExitStack, interpreter: Interpreter) -> None:
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    _patch(stack, retrier_decl, "time", SimpleNamespace(sleep=interpreter._sleep))


def _patch_result_writer(stack: ExitStack) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (  # noqa: E501
        resource_eval_s3,
    )

    _patch(
        stack,
        resource_eval_s3.ResourceEvalS3,
        "_handle_put_object",
        staticmethod(_write_results),
    )


def _write_results(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
    """The ResultWriter's ``s3:putObject``: result file and manifest, as AWS lays them out.

    On the interpreter's stack: the writer's evaluated Parameters (Bucket, Prefix), under them
    the Map's outputs, one per item in item order.
    """
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3 import (  # noqa: E501
        ResourceEvalS3,
    )

    parameters = env.stack.pop()
    outputs: list[Any] = env.stack.pop()
    s3 = ResourceEvalS3._get_s3_client(
        resource_runtime_part=resource_runtime_part, state_credentials=state_credentials
    )
    map_run = env.map_run_record_pool_manager.get_all().pop()
    map_run_arn = str(map_run.map_run_arn)
    map_run_id = map_run_arn.rsplit(":", 1)[-1]
    prefix = str(parameters.get("Prefix", ""))
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    bucket = str(parameters["Bucket"])
    # arn:aws:states:<region>:<account>:mapRun:<machine>/<label>:<id> -> execution ARN stem
    stem = map_run_arn.replace(":mapRun:", ":execution:", 1).rsplit(":", 1)[0]
    records = [
        {
            "ExecutionArn": f"{stem}:{map_run_id}-{index}",
            "Name": f"{map_run_id}-{index}",
            "Output": json.dumps(output),
            "OutputDetails": {"Included": True},
            "Status": "SUCCEEDED",
        }
        for index, output in enumerate(outputs)
    ]
    files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    if records:
        body = json.dumps(records).encode("utf-8")
        key = f"{prefix}{map_run_id}/SUCCEEDED_0.json"
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        files["SUCCEEDED"].append({"Key": key, "Size": len(body)})
    manifest = {"DestinationBucket": bucket, "MapRunArn": map_run_arn, "ResultFiles": files}
    manifest_key = f"{prefix}{map_run_id}/manifest.json"
    s3.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(manifest).encode("utf-8"))
    env.stack.append(
        {"MapRunArn": map_run_arn, "ResultWriterDetails": {"Bucket": bucket, "Key": manifest_key}}
    )
