"""What Secrets Manager accepts as a secret name, and which IAM user names it cannot hold.

A secret name is 1 to 512 of ``A-Za-z0-9`` and ``/_+=.@-``. IAM user names allow ``,`` too,
so a user such as ``svc,batch`` has no secret under any name format: a rotation would create
a key that cannot be stored. The scan marks such a user unstorable and the engine blocks its
rotation before any key is created.

Secrets Manager's documentation also advises against a name ending in a hyphen and six
characters (``ci-runner``): Secrets Manager appends ``-`` and six random characters to the
name in the ARN, so a *partial ARN* of such a secret is ambiguous. That is advice, not a
rule (CreateSecret accepts the name), and keyrotate addresses secrets by their full name and
its policies by the full ARN pattern ``<name>-??????``, so such names are storable here.

    >>> is_secret_name("keyrotate/123456789012/svc.batch")
    True
    >>> is_secret_name("keyrotate/123456789012/svc,batch")
    False
"""

from __future__ import annotations

import re

SECRET_NAME_MAX = 512
SECRET_NAME_CHARACTERS = "letters, digits and /_+=.@-"
_SECRET_NAME = re.compile(rf"[A-Za-z0-9/_+=.@-]{{1,{SECRET_NAME_MAX}}}")


def is_secret_name(name: str) -> bool:
    """Whether Secrets Manager accepts ``name`` as the name of a secret."""
    return _SECRET_NAME.fullmatch(name) is not None
