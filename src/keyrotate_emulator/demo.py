"""``keyrotate demo``: the whole pipeline against an embedded AWS, offline, in under a minute.

The CLI loads this module by name (the product never imports the emulator) and calls
:func:`main`; without the ``emulator`` extra the import below fails and the CLI names the extra.

1. start moto on 127.0.0.1 (random port) in this process and point boto3 at it;
2. seed an organization (nested OUs, a suspended account, 160 users in one account, one user
   per SPEC.md worked example, an exemption group, an exempt tag, owner tags);
3. deploy what member-role.yaml would (the read-own-secret policy) in every account;
4. run an audit pass, then an enforce pass, with mail written as .eml files;
5. print both runs and where the reports and mails are.

The process's AWS settings are replaced first, so the demo can never reach a real account.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

# Imported now, not when the server starts: without moto (the emulator extra) the demo fails
# as the CLI loads it, before anything is printed, and the CLI names the extra.
import moto.moto_server.werkzeug_app  # noqa: F401
from rich.console import Console

from keyrotate.config import Settings, load_settings
from keyrotate.console import actions_table, summary_table
from keyrotate.service.context import RunContext
from keyrotate.service.options import Clock, utc_now
from keyrotate.service.organization import OrganizationRun, run_organization
from keyrotate.service.report_files import RunDocument, write_report_file
from keyrotate.service.report_meta import RunMeta
from keyrotate.service.spill import SpilledAccounts
from keyrotate_emulator.demo_org import DemoManifest, seed_demo_organization
from keyrotate_emulator.seed import iam_client, read_own_secret_policy
from keyrotate_emulator.server import EmulatorServer

ROLE_NAME = "keyrotate-member"
READ_POLICY_NAME = "keyrotate-read-own-secret"
ADMIN = "secops@example.com"
_AWS_SETTINGS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN")


@dataclass(frozen=True, slots=True)
class DemoRun:
    manifest: DemoManifest
    audit: OrganizationRun
    enforce: OrganizationRun
    out_dir: Path

    @property
    def mail_dir(self) -> Path:
        return self.out_dir / "mail"


def _isolate(endpoint: str) -> None:
    """Point every boto3 client of this process at the emulator, with fake credentials."""
    for name in _AWS_SETTINGS:
        os.environ.pop(name, None)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )


def deploy_member_policies(endpoint: str, manifest: DemoManifest) -> None:
    for account in manifest.active_accounts:
        iam_client(endpoint, account.account_id, manifest.role_name).create_policy(
            PolicyName=READ_POLICY_NAME,
            PolicyDocument=read_own_secret_policy(account.account_id),
        )


def demo_settings(out_dir: Path, *, enforce: bool, extra: Mapping[str, str]) -> Settings:
    env = {
        "IAMRoleName": ROLE_NAME,
        "AdminEmailAddress": ADMIN,
        "EmailTransport": "file",
        "EmailSender": "keyrotate@example.com",
        "MailDir": str(out_dir / "mail" / ("enforce" if enforce else "audit")),
        "EmailFooter": "Cloud Platform Security · keyrotate demo",
        "CredentialReplicationRegions": "us-west-2",
        "DryRunFlag": "false" if enforce else "true",
        "AWS_REGION": "us-east-1",
        **extra,
    }
    return load_settings(None, env, {})


def run_demo(
    out_dir: Path,
    *,
    clock: Clock = utc_now,
    extra: Mapping[str, str] = {},
    server: EmulatorServer | None = None,
) -> DemoRun:
    """Seed, audit, enforce. ``server``: a running emulator to use instead of one of its own
    (the tests' shared one); its moto state must be empty.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        if server is None:
            server = stack.enter_context(EmulatorServer())
        _isolate(server.url)
        manifest = seed_demo_organization(server.url, clock(), role_name=ROLE_NAME)
        deploy_member_policies(server.url, manifest)
        runs: dict[str, OrganizationRun] = {}
        for mode in ("audit", "enforce"):
            settings = demo_settings(out_dir, enforce=mode == "enforce", extra=extra)
            context = RunContext.from_settings(settings, f"demo-{mode}", clock=clock)
            run = run_organization(context, context.list_inventory(), SpilledAccounts())
            meta = RunMeta.of(f"demo-{mode}", context.options.policy, settings.describe())
            document = RunDocument(run.report, run.summary, meta)
            for suffix in ("json", "html"):  # the stable report, and the page for people
                write_report_file(document, out_dir / f"{mode}-report.{suffix}")
            runs[mode] = run
    return DemoRun(manifest, runs["audit"], runs["enforce"], out_dir)


def main(out_dir: Path) -> None:
    """The body of ``keyrotate demo``: run it, then print both passes and where the files are."""
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print("Starting the embedded AWS emulator and seeding an organization ...")
    demo = run_demo(out_dir)
    manifest = demo.manifest
    console.print(
        f"Seeded {len(manifest.accounts)} accounts ({len(manifest.skipped_accounts)} "
        f"suspended) in {len(manifest.ou_paths)} OUs, {len(manifest.users)} IAM users."
    )
    for title, run in (
        ("1. audit pass (nothing changes)", demo.audit),
        ("2. enforce pass", demo.enforce),
    ):
        console.rule(title)
        console.print(actions_table(run.report, width=console.width))
        console.print(summary_table(run.report.mode, run.summary))
    console.rule("files")
    console.print(
        f"reports: {demo.out_dir / 'audit-report.json'}, {demo.out_dir / 'enforce-report.json'}"
    )
    console.print(
        f"pages (open in a browser): {demo.out_dir / 'audit-report.html'}, "
        f"{demo.out_dir / 'enforce-report.html'}"
    )
    console.print(
        f"mails (.eml, open in any mail client): {demo.mail_dir}/audit, {demo.mail_dir}/enforce"
    )
