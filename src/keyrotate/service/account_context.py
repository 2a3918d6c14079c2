"""One account's run: what scan, read and enforce share, made once per account.

:class:`AccountContext` is generic in its IAM and secret-store ports, so each phase states
only what it uses: the scan takes a :data:`ReadingAccount`, the enforce path a
:data:`WritingAccount`. A real run passes the AWS adapters, which are both; the unit tests
pass in-memory fakes of the write side (tests/unit/fakes.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from keyrotate.aws.verify import verify_key
from keyrotate.domain.models import Exemption
from keyrotate.service.options import Clock, RunOptions
from keyrotate.service.ports import IamReader, IamWriter, KeyVerifier, SecretLister, SecretWriter

# Covariant: the fields are read-only, so an account with the adapters (readers and writers
# both) is an account with readers, and one with writers.
IamT = TypeVar("IamT", covariant=True)
SecretsT = TypeVar("SecretsT", covariant=True)


@dataclass(frozen=True, slots=True)
class AccountContext(Generic[IamT, SecretsT]):
    """The account, its IAM and secret store (shared by all its users), the run's options
    and clock, and the check a new key must pass before it counts as verified."""

    account_id: str
    partition: str
    iam: IamT
    secrets: SecretsT
    options: RunOptions
    clock: Clock
    verifier: KeyVerifier = verify_key  # STS GetCallerIdentity with the new key
    # The account's own exemption (its id or an OU it sits in, AccountExemptions): every
    # user's, unless one of its own lasts longer (keyrotate.service.scan.exemption_of).
    exemption: Exemption | None = None

    def secret_name(self, user_name: str) -> str:
        return self.options.secret_name(self.account_id, user_name)

    def secret_prefix(self) -> str:
        """The fixed start of every secret name of this account (for one ListSecrets)."""
        return self.options.secret_prefix(self.account_id)

    def read_policy_arn(self) -> str | None:
        name = self.options.read_policy_name
        if not name:
            return None
        return f"arn:{self.partition}:iam::{self.account_id}:policy/{name}"


#: The account as the scan sees it, and as the enforce path does.
ReadingAccount = AccountContext[IamReader, SecretLister]
WritingAccount = AccountContext[IamWriter, SecretWriter]
