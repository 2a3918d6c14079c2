"""``keyrotate credentials``: the AWS credential_process that follows keyrotate's rotations.

    # ~/.aws/config
    [profile app]
    credential_process = keyrotate credentials --secret keyrotate/123456789012/svc-app

stdout carries the credential_process JSON and nothing else; notes and errors go to stderr
(exit 1 when no key can be had, 2 for bad input). See docs/consumers.md and
:mod:`keyrotate.service.credentials`.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from keyrotate.aws.regions import partition_for_region
from keyrotate.cli.app import main
from keyrotate.config import load_settings
from keyrotate.domain.errors import InputError
from keyrotate.domain.secret_names import SECRET_NAME_CHARACTERS, is_secret_name
from keyrotate.service import credential_cache, credentials


def _secret_id(
    secret: str | None,
    account: str | None,
    user: str | None,
    config_path: Path | None,
    region: str | None,
) -> str:
    """``--secret`` as given, or the name keyrotate gives ``--user``'s secret in ``--account``.

    In central mode the secret lives in the central account: its (partial) ARN is returned,
    which Secrets Manager accepts from another account.
    """
    if secret is not None:
        if account or user:
            raise InputError("--secret", secret, "give --secret, or --account with --user")
        return secret
    if not (account and user):
        raise InputError(
            "--account/--user" if account or user else "--secret",
            account or user,
            "give --secret NAME, or both --account ID and --user NAME",
        )
    settings = load_settings(config_path, os.environ, {"region": region})
    name = settings.secret_name_format.format(account_id=account, user_name=user)
    if not is_secret_name(name):
        raise InputError("--user", user, f"a secret name allows only {SECRET_NAME_CHARACTERS}")
    central = settings.secrets_account
    if central is None or central == account:
        return name
    home = settings.region
    if home is None:
        raise InputError("--region", None, "central mode: give the secrets' home region")
    return f"arn:{partition_for_region(home)}:secretsmanager:{home}:{central}:secret:{name}"


@main.command("credentials")
@click.option("--secret", default=None, metavar="NAME|ARN", help="The user's secret.")
@click.option("--account", default=None, metavar="ID", help="With --user: the secret's account.")
@click.option(
    "--user", default=None, metavar="NAME", help="With --account: name it by SecretNameFormat."
)
@click.option("--region", default=None, help="The secret's region (else AWS_REGION/profile).")
@click.option(
    "--profile",
    default=None,
    help="Credentials to read the secret with when the cached key cannot (else the chain).",
)
@click.option(
    "--cache",
    "cache_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The key last handed out (mode 0600). Default: ~/.cache/keyrotate/credentials/.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="keyrotate settings (SecretNameFormat, central mode) for --account/--user.",
)
@click.option(
    "--expiration-minutes",
    type=int,
    default=credentials.DEFAULT_EXPIRATION_MINUTES,
    show_default=True,
    help="When SDKs should call again to follow a rotation (0: no Expiration).",
)
def credentials_command(
    secret: str | None,
    account: str | None,
    user: str | None,
    region: str | None,
    profile: str | None,
    cache_path: Path | None,
    config_path: Path | None,
    expiration_minutes: int,
) -> None:
    """Print the user's current key as AWS credential_process JSON, following rotations.

    Reads the user's own secret with the key handed out last (cached), or with the
    credential chain (--profile) the first time or once that key is refused.
    """
    secret_id = _secret_id(secret, account, user, config_path, region)
    request = credentials.Request(
        secret_id=secret_id,
        cache_path=cache_path or credential_cache.default_cache_path(secret_id),
        region=region,
        profile=profile,
        initial_key=credentials.initial_key_from(os.environ),
        expiration_minutes=credentials.check_expiration(expiration_minutes),
    )
    result = credentials.run(request)
    for note in result.notes:
        click.echo(f"keyrotate credentials: {note}", err=True)
    click.echo(credentials.process_output(result.key, request.expiration_minutes))
