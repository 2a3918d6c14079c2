"""The rotation policy and its validation (SPEC.md, "Policy").

The derived windows are what make rotation safe for consumers:

    install window  = deactivate_after - rotate_after   (default 10 days)
    recovery window = delete_after - deactivate_after   (default 10 days)

A previous key is never deactivated sooner than the install window after its replacement
was created, and never deleted sooner than the recovery window after it was deactivated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from keyrotate.domain.errors import PolicyError

MAX_DAYS = 36_500


class UnusedKeyAction(StrEnum):
    """What to do with a current key past rotation age that was never used."""

    DEACTIVATE = "deactivate"
    ROTATE = "rotate"


@dataclass(frozen=True, slots=True)
class RotationPolicy:
    """Thresholds in whole days. Validated on construction; derived timedeltas precomputed."""

    rotate_after_days: int = 90
    deactivate_after_days: int = 100
    delete_after_days: int = 110
    warn_before_days: int = 7
    unused_key_action: UnusedKeyAction = UnusedKeyAction.DEACTIVATE
    hold_if_previous_in_use: bool = True
    hold_escalate_after_days: int = 14
    in_use_days: int = 7

    rotate_after: timedelta = field(init=False, repr=False, compare=False)
    deactivate_after: timedelta = field(init=False, repr=False, compare=False)
    delete_after: timedelta = field(init=False, repr=False, compare=False)
    warn_before: timedelta = field(init=False, repr=False, compare=False)
    install_window: timedelta = field(init=False, repr=False, compare=False)
    recovery_window: timedelta = field(init=False, repr=False, compare=False)
    hold_escalate_after: timedelta = field(init=False, repr=False, compare=False)
    in_use: timedelta = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in (
            "rotate_after_days",
            "deactivate_after_days",
            "delete_after_days",
            "warn_before_days",
            "hold_escalate_after_days",
            "in_use_days",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise PolicyError(name, value, "use a whole number of days greater than 0")
            if value > MAX_DAYS:  # dates this far out overflow Python's datetime (year 9999)
                raise PolicyError(name, value, f"use at most {MAX_DAYS} days (100 years)")
        if not self.rotate_after_days < self.deactivate_after_days:
            raise PolicyError(
                "deactivate_after_days",
                self.deactivate_after_days,
                f"must be greater than rotate_after_days ({self.rotate_after_days}), "
                "so a new key has time to be installed before the old one stops working",
            )
        if not self.deactivate_after_days < self.delete_after_days:
            raise PolicyError(
                "delete_after_days",
                self.delete_after_days,
                f"must be greater than deactivate_after_days ({self.deactivate_after_days}), "
                "so a deactivated key can be switched back on before it is deleted",
            )
        if self.warn_before_days >= self.rotate_after_days:
            raise PolicyError(
                "warn_before_days",
                self.warn_before_days,
                f"must be smaller than rotate_after_days ({self.rotate_after_days})",
            )
        try:
            unused = UnusedKeyAction(self.unused_key_action)
        except ValueError:
            raise PolicyError(
                "unused_key_action", self.unused_key_action, "use 'deactivate' or 'rotate'"
            ) from None
        setattr_ = object.__setattr__
        setattr_(self, "unused_key_action", unused)
        setattr_(self, "rotate_after", timedelta(days=self.rotate_after_days))
        setattr_(self, "deactivate_after", timedelta(days=self.deactivate_after_days))
        setattr_(self, "delete_after", timedelta(days=self.delete_after_days))
        setattr_(self, "warn_before", timedelta(days=self.warn_before_days))
        setattr_(self, "install_window", self.deactivate_after - self.rotate_after)
        setattr_(self, "recovery_window", self.delete_after - self.deactivate_after)
        setattr_(self, "hold_escalate_after", timedelta(days=self.hold_escalate_after_days))
        setattr_(self, "in_use", timedelta(days=self.in_use_days))
