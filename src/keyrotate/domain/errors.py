"""One error tree for everything a caller of keyrotate can see.

    KeyrotateError
    ├── InputError            bad input from a person: config, flags, env, events (exit 2)
    │   └── PolicyError       a rotation policy that breaks SPEC.md's ordering rules
    └── AwsError              an AWS call failed; carries the operation and the error code
        ├── AccessDenied      the role lacks a permission or cannot be assumed
        └── KeySlotsFull      IAM's two-key limit (LimitExceeded): another run is rotating

Third-party errors (botocore, pydantic, yaml) are translated where they cross into our code
(``raise ... from exc``), so callers catch one tree. Messages never carry secret values.
"""

from __future__ import annotations


class KeyrotateError(Exception):
    """Base of every error keyrotate raises on purpose."""


class InputError(KeyrotateError):
    """A value given by a person is unusable. The message names the field, value and fix."""

    def __init__(self, field: str, value: object, fix: str) -> None:
        self.field = field
        self.value = value
        self.fix = fix
        super().__init__(f"{field}: {value!r} is not valid: {fix}")


class PolicyError(InputError):
    """A rotation policy whose thresholds are not positive or not in order."""


class AwsError(KeyrotateError):
    """An AWS call failed in a way the caller should record (not a bug of ours)."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        self.operation = operation
        self.code = code
        super().__init__(f"{operation} failed: {code}: {message}")


class AccessDenied(AwsError):
    """The role could not be assumed, or it lacks a permission for one call."""


class KeySlotsFull(AwsError):
    """IAM refused a third key: read as "another run is rotating this user"."""
