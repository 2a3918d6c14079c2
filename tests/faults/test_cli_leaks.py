"""No secret access key in anything the CLI writes: output, logs, report file, .eml mails.

Two CLI enforce runs, mail to files: the first fails to store one new key (PutSecretValue
denied), so the tool deletes that key again and says why in the report, the mails and its
output; the second (its intent marker aged past the window) finishes the rotation. Every
secret access key IAM handed out (seeded ones, the one deleted again, those in secrets) is
looked for in every text: raw and decoded MIME parts, and JSON's escaped forms.

Both runs log at DEBUG (``KEYROTATE_LOG_LEVEL``), where botocore would write CreateAccessKey's
response and PutSecretValue's request: stderr must hold botocore's DEBUG lines, else the
search through it proves nothing.
"""

from __future__ import annotations

import email
import email.policy
import json
from datetime import timedelta
from pathlib import Path

from keyrotate.domain.engine import ORPHAN_WINDOW
from keyrotate_emulator.faults import Fault
from tests.faults.conftest import Leaks
from tests.faults.lab import (
    FaultLab,
    age_markers,
    read_state,
    secret_values,
    seed_org,
    start_cli,
)

TIMEOUT = 120.0


def _mail_texts(folder: Path) -> list[tuple[str, str]]:
    """Every .eml as raw text and each MIME part decoded (base64 / quoted-printable undone)."""
    texts: list[tuple[str, str]] = []
    for path in sorted(folder.glob("*.eml")):
        raw = path.read_bytes()
        texts.append((f"{path.name} raw", raw.decode("utf-8", errors="replace")))
        message = email.message_from_bytes(raw, policy=email.policy.default)
        for i, part in enumerate(message.walk()):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                charset = part.get_content_charset() or "utf-8"
                texts.append((f"{path.name} part {i}", payload.decode(charset, errors="replace")))
        texts.append((f"{path.name} headers", str(message.items())))
    return texts


def _run(lab: FaultLab, tmp_path: Path, name: str) -> list[tuple[str, str]]:
    """One CLI enforce run; returns what it wrote (output, report, mails) by place."""
    mail_dir = tmp_path / f"{name}-mail"
    report = tmp_path / f"{name}-report.json"
    process = start_cli(
        lab,
        "--report",
        str(report),
        EmailTransport="file",
        MailDir=str(mail_dir),
        VerifyNewKeys="true",
        KEYROTATE_LOG_LEVEL="DEBUG",
    )
    out, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode in (0, 1), _without_debug(err)[-2000:]
    assert "DEBUG botocore." in err, f"{name}: no botocore DEBUG line in stderr"
    mails = _mail_texts(mail_dir)
    assert mails, f"{name}: no mail written"
    return [
        (f"{name} stdout", out),
        (f"{name} stderr", err),
        (f"{name} report", report.read_text()),
        *((f"{name} {where}", text) for where, text in mails),
    ]


def _without_debug(text: str) -> str:
    """``text`` without DEBUG records (their continuation lines too): what a failed assertion
    may show. A leak, if there is one, is in a DEBUG record's body.
    """
    kept: list[str] = []
    in_debug = False
    for line in text.splitlines():
        if line.startswith("DEBUG "):
            in_debug = True
        elif line.startswith(("INFO ", "WARNING ", "ERROR ", "CRITICAL ", "error: ", "Traceback")):
            in_debug = False
        if not in_debug:
            kept.append(line)
    return "\n".join(kept)


def _forms(secret: str) -> set[str]:
    """The secret as it would appear in text, JSON or a repr."""
    return {secret, json.dumps(secret)[1:-1], repr(secret)[1:-1]}


def test_no_secret_access_key_in_cli_output_report_or_mail(
    lab: FaultLab, leaks: Leaks, tmp_path: Path
) -> None:
    org = seed_org(lab)
    issued_before = len(lab.gate.issued_secrets)
    member = org.accounts["work-0"]
    lab.inject(Fault("secretsmanager", "PutSecretValue", kind="access_denied", account_id=member))

    first = _run(lab, tmp_path, "first")

    assert len(lab.fired()) == 1
    lab.clear_faults()
    first_report = json.loads(next(text for where, text in first if where == "first report"))
    undone = [k for k in first_report["keys"] if "storing the new key failed" in str(k["error"])]
    # Users of an account rotate at once (UserWorkers), so which one met the fault varies.
    assert len(undone) == 1
    undone_user = undone[0]["user_name"]
    # The new key was deleted again, so its intent marker is gone too: the next run, even at
    # once, rotates the user again (nothing for other runs to wait for).
    assert age_markers(lab, org, ORPHAN_WINDOW + timedelta(minutes=1)) == 0

    second = _run(lab, tmp_path, "second")

    second_report = json.loads(next(text for where, text in second if where == "second report"))
    assert any(
        k["user_name"] == undone_user and k["new_access_key_id"] for k in second_report["keys"]
    )
    state = read_state(lab, org)
    leaks.add_state(state)
    held = secret_values(state)
    issued = set(lab.gate.issued_secrets)
    # 5 keys made by the tool: 4 rotations and the one deleted again after the failed store.
    assert len(lab.gate.issued_secrets) - issued_before == 5
    assert held  # (never compare secret sets in an assert: pytest would print them)
    texts = [*first, *second]
    for where, text in texts:
        leaks.add(where, text)
    hits = sorted(
        {
            where
            for where, text in texts
            for secret in issued | held
            for f in _forms(secret)
            if f in text
        }
    )
    assert not hits, f"a secret access key appears in: {hits}"
