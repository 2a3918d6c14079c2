"""The pure core: policy, models and the lifecycle engine (SPEC.md). Standard library only."""

from keyrotate.domain.engine import (
    ORPHAN_WINDOW,
    SELF_USE_MARGIN,
    consumer_last_used,
    current_key,
    is_orphan,
    plan,
)
from keyrotate.domain.errors import (
    AccessDenied,
    AwsError,
    InputError,
    KeyrotateError,
    KeySlotsFull,
    PolicyError,
)
from keyrotate.domain.models import (
    NO_STATE,
    AccessKey,
    Account,
    AccountStatus,
    Action,
    ActionKind,
    Exemption,
    KeyState,
    KeyStatus,
    Plan,
    Reason,
    UserKeys,
)
from keyrotate.domain.policy import RotationPolicy, UnusedKeyAction

__all__ = [
    "NO_STATE",
    "ORPHAN_WINDOW",
    "SELF_USE_MARGIN",
    "AccessDenied",
    "AccessKey",
    "Account",
    "AccountStatus",
    "Action",
    "ActionKind",
    "AwsError",
    "Exemption",
    "InputError",
    "KeySlotsFull",
    "KeyState",
    "KeyStatus",
    "KeyrotateError",
    "Plan",
    "PolicyError",
    "Reason",
    "RotationPolicy",
    "UnusedKeyAction",
    "UserKeys",
    "consumer_last_used",
    "current_key",
    "is_orphan",
    "plan",
]
