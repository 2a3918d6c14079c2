"""Users IAM never lets keyrotate change, known to the code too, so it plans nothing for them.

member-role.yaml denies the member role every key, tag and policy change on a user that
carries the tag ``keyrotate:protected`` (any value) or matches one of ``ProtectedUserArns``,
and allows changes only under ``ManagedUserPath``. Those fences hold whatever code runs; this
module is the code's copy of them, so such a user is reported as protected (an exemption)
instead of a change IAM refuses on every run. The same settings feed both: main.yaml passes
the parameters to the functions. The rule matches ARNs as IAM does: ``*`` any run of
characters (``/`` included), ``?`` exactly one, case-sensitive.

    >>> protection_of("arn:aws:iam::111122223333:user/breakglass/root-2", {},
    ...               ("arn:aws:iam::*:user/breakglass/*",), "/")
    'listed in ProtectedUserArns (arn:aws:iam::*:user/breakglass/*)'
    >>> protection_of("arn:aws:iam::111122223333:user/app", {"keyrotate:protected": ""}, (), "/")
    'carries the tag keyrotate:protected'
    >>> protection_of("arn:aws:iam::111122223333:user/app", {}, (), "/managed/")
    'outside ManagedUserPath /managed/'
    >>> protection_of("arn:aws:iam::111122223333:user/managed/app", {}, (), "/managed/") is None
    True
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

PROTECTION_TAG = "keyrotate:protected"  # fixed: member-role.yaml names it in a condition key


def arn_like(pattern: str, arn: str) -> bool:
    """IAM's ARN matching in a Resource element (``*`` and ``?``, case-sensitive)."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, arn) is not None


def user_path(arn: str) -> str:
    """The IAM path of a user ARN: ``.../user/ops/ann`` → ``/ops/``."""
    resource = arn.split(":user", 1)[1] if ":user/" in arn else "/"
    return resource[: resource.rfind("/") + 1]


def protection_of(
    arn: str,
    tags: Mapping[str, str],
    protected_arns: Collection[str],
    managed_path: str,
) -> str | None:
    """Why IAM denies the member role any change to this user, or ``None``."""
    if PROTECTION_TAG in tags:
        return f"carries the tag {PROTECTION_TAG}"
    listed = next((p for p in protected_arns if arn_like(p, arn)), None)
    if listed is not None:
        return f"listed in ProtectedUserArns ({listed})"
    if not user_path(arn).startswith(managed_path):
        return f"outside ManagedUserPath {managed_path}"
    return None
