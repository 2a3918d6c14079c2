"""Secrets Manager may encrypt only with a KMS key the caller can use; moto takes any KmsKeyId.

moto stores whatever ``KmsKeyId`` a CreateSecret, UpdateSecret or ReplicateSecretToRegions
names, even a bare id of another account's key. AWS resolves the id the way KMS does:

- a bare key id or ``alias/...`` names a key of the *caller's* account, in the region of the
  secret (or of the replica) it encrypts;
- a key or alias ARN names its own account and region; KMS keys are regional, so the region
  must still be the secret's (or replica's) own;
- an AWS managed key (``alias/aws/...``) cannot be used from another account.

A key that exists in moto's KMS where the identifier points is accepted, also in another
account: AWS allows that when the key policy lets the caller use it, and the emulator does
not evaluate key policies (moto does not either). A key that is disabled or pending deletion
is refused as AWS refuses it (``EncryptionFailure``).

Which error AWS answers for a key that cannot be used is not documented per case. The
emulator answers ``AccessDeniedException: Access to KMS is not allowed`` (what Secrets
Manager says when it cannot use the key on the caller's behalf, the caller cannot tell a
missing key from a forbidden one), ``InvalidParameterException`` for an identifier that is
not a key id, alias or KMS ARN at all, and ``EncryptionFailure`` for a key in the wrong state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from keyrotate_emulator._wsgi import Refusal

# A KMS key id: a UUID, or "mrk-" and 32 hex digits for a multi-Region key (moto writes a
# multi-Region key's as "mrk-" and a UUID: accepted too, it is moto's own key).
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_KEY_ID = re.compile(rf"^(?:{_UUID}|mrk-[0-9a-f]{{32}}|mrk-{_UUID})$")
_ALIAS = re.compile(r"^alias/[A-Za-z0-9/_-]{1,250}$")
_ARN = re.compile(r"^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):((?:key|alias)/.+)$")
_AWS_MANAGED = "alias/aws/"
_USABLE_STATES = frozenset({"Enabled"})

# Operations that name a KMS key for a secret, with where the key ids are in the request.
CHECKED_OPERATIONS = frozenset({"CreateSecret", "UpdateSecret", "ReplicateSecretToRegions"})


@dataclass(frozen=True, slots=True)
class KeyUse:
    """One KmsKeyId of a request and the region of the secret (or replica) it encrypts."""

    kms_key_id: str
    region: str


def key_uses(operation: str, body: bytes, home_region: str) -> Iterator[KeyUse]:
    """Every KmsKeyId a Secrets Manager request names, each with the region it is used in."""
    if operation not in CHECKED_OPERATIONS:
        return
    try:
        request: Any = json.loads(body or b"{}")
    except ValueError:
        return  # moto answers a malformed body itself
    if not isinstance(request, dict):
        return
    key_id = request.get("KmsKeyId")
    if operation != "ReplicateSecretToRegions" and isinstance(key_id, str):
        yield KeyUse(key_id, home_region)
    for replica in request.get("AddReplicaRegions") or ():
        if isinstance(replica, dict) and isinstance(replica.get("KmsKeyId"), str):
            yield KeyUse(replica["KmsKeyId"], str(replica.get("Region") or home_region))


def check_key_use(use: KeyUse, caller_account: str) -> Refusal | None:
    """Why Secrets Manager would refuse ``use`` for ``caller_account``; None if it would not."""
    identifier = use.kms_key_id
    if identifier == "":
        return None  # UpdateSecret: "" selects the account's aws/secretsmanager key
    arn = _ARN.match(identifier)
    if arn is not None:
        key_region, account, resource = arn.group(1), arn.group(2), arn.group(3)
    else:
        key_region, account = use.region, caller_account
        resource = identifier if identifier.startswith("alias/") else f"key/{identifier}"
    kind, _, name = resource.partition("/")
    well_formed = _KEY_ID.match(name) if kind == "key" else _ALIAS.match(resource)
    if not well_formed:
        return Refusal(
            "InvalidParameterException",
            f"The operation failed because of an invalid KMS key: Invalid keyId {identifier}",
        )
    where = f"account {account}, region {key_region}"
    if key_region != use.region:
        return _denied(f"KMS keys are regional: {identifier} is in {key_region}, not {use.region}")
    if account != caller_account and resource.startswith(_AWS_MANAGED):
        return _denied(f"an AWS managed key of {where} cannot be used by account {caller_account}")
    key = _find_key(account, key_region, kind, resource)
    if key is None:
        return _denied(f"no KMS key {identifier} in {where}")
    state = str(getattr(key, "key_state", "Enabled"))
    if state not in _USABLE_STATES:
        return Refusal(
            "EncryptionFailure",
            "Secrets Manager can't encrypt the protected secret text using the provided KMS "
            f"key. Check that the KMS key is available, enabled, and not in an invalid state "
            f"(keyrotate emulator: {identifier} is {state}).",
        )
    return None


def _denied(why: str) -> Refusal:
    return Refusal(
        "AccessDeniedException", f"Access to KMS is not allowed (keyrotate emulator: {why})"
    )


def _find_key(account: str, region: str, kind: str, resource: str) -> Any:
    """The moto Key the resource names in that account and region, or None."""
    from moto.kms.models import kms_backends  # the emulator's own process only

    try:
        backend = kms_backends[account][region]
    except KeyError:  # a region moto does not know: no key can be there
        return None
    if kind == "key":
        return backend.keys.get(resource.partition("/")[2])
    # get_key_id_from_alias creates an AWS managed key on first use, as AWS does.
    key_id = backend.get_key_id_from_alias(resource)
    return None if key_id is None else backend.keys.get(key_id)
