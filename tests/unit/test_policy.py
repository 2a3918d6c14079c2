"""RotationPolicy: SPEC.md "Policy" defaults, derived windows and validation of bad values."""

from __future__ import annotations

from datetime import timedelta

import pytest

from keyrotate.domain import InputError, PolicyError, RotationPolicy, UnusedKeyAction


def test_defaults_are_the_source_patterns() -> None:
    policy = RotationPolicy()
    assert (
        policy.rotate_after_days,
        policy.deactivate_after_days,
        policy.delete_after_days,
        policy.warn_before_days,
        policy.unused_key_action,
        policy.hold_if_previous_in_use,
        policy.hold_escalate_after_days,
        policy.in_use_days,
    ) == (90, 100, 110, 7, UnusedKeyAction.DEACTIVATE, True, 14, 7)


def test_default_windows_are_ten_days_each() -> None:
    policy = RotationPolicy()
    assert policy.install_window == timedelta(days=10)
    assert policy.recovery_window == timedelta(days=10)


@pytest.mark.parametrize(
    ("rotate", "deactivate", "delete", "install", "recovery"),
    [(90, 100, 110, 10, 10), (30, 45, 90, 15, 45), (2, 3, 4, 1, 1), (365, 400, 401, 35, 1)],
    ids=["defaults", "uneven", "smallest", "yearly"],
)
def test_derived_windows_are_the_differences_of_the_thresholds(
    rotate: int, deactivate: int, delete: int, install: int, recovery: int
) -> None:
    policy = RotationPolicy(
        rotate_after_days=rotate,
        deactivate_after_days=deactivate,
        delete_after_days=delete,
        warn_before_days=1,
    )
    assert policy.install_window == timedelta(days=install)
    assert policy.recovery_window == timedelta(days=recovery)
    assert policy.rotate_after == timedelta(days=rotate)
    assert policy.deactivate_after == timedelta(days=deactivate)
    assert policy.delete_after == timedelta(days=delete)
    assert policy.warn_before == timedelta(days=1)
    assert policy.hold_escalate_after == timedelta(days=14)


def test_unused_key_action_is_accepted_as_text_and_normalised() -> None:
    policy = RotationPolicy(unused_key_action="rotate")  # type: ignore[arg-type]
    assert policy.unused_key_action is UnusedKeyAction.ROTATE


def test_policies_with_equal_values_are_equal() -> None:
    assert RotationPolicy(warn_before_days=5) == RotationPolicy(warn_before_days=5)
    assert RotationPolicy(warn_before_days=5) != RotationPolicy(warn_before_days=6)


BAD: list[tuple[str, dict[str, object], str, object, str]] = [
    ("rotate zero", {"rotate_after_days": 0}, "rotate_after_days", 0, "greater than 0"),
    ("rotate negative", {"rotate_after_days": -90}, "rotate_after_days", -90, "greater than 0"),
    ("deactivate zero", {"deactivate_after_days": 0}, "deactivate_after_days", 0, "than 0"),
    ("delete negative", {"delete_after_days": -1}, "delete_after_days", -1, "than 0"),
    ("warn zero", {"warn_before_days": 0}, "warn_before_days", 0, "greater than 0"),
    ("escalate zero", {"hold_escalate_after_days": 0}, "hold_escalate_after_days", 0, "than 0"),
    ("in use zero", {"in_use_days": 0}, "in_use_days", 0, "than 0"),
    (
        "rotate past year 9999",
        {"rotate_after_days": 10**8, "deactivate_after_days": 10**8 + 1},
        "rotate_after_days",
        10**8,
        "at most 36500 days",
    ),
    (
        "escalate too far",
        {"hold_escalate_after_days": 36_501},
        "hold_escalate_after_days",
        36_501,
        "at most 36500",
    ),
    ("rotate a float", {"rotate_after_days": 90.5}, "rotate_after_days", 90.5, "whole number"),
    ("rotate text", {"rotate_after_days": "90"}, "rotate_after_days", "90", "whole number"),
    ("rotate True", {"rotate_after_days": True}, "rotate_after_days", True, "whole number"),
    ("warn False", {"warn_before_days": False}, "warn_before_days", False, "whole number"),
    (
        "deactivate == rotate",
        {"rotate_after_days": 90, "deactivate_after_days": 90},
        "deactivate_after_days",
        90,
        "greater than rotate_after_days (90)",
    ),
    (
        "deactivate < rotate",
        {"rotate_after_days": 90, "deactivate_after_days": 60, "delete_after_days": 70},
        "deactivate_after_days",
        60,
        "greater than rotate_after_days (90)",
    ),
    (
        "delete == deactivate",
        {"delete_after_days": 100},
        "delete_after_days",
        100,
        "greater than deactivate_after_days (100)",
    ),
    (
        "delete < deactivate",
        {"delete_after_days": 95},
        "delete_after_days",
        95,
        "greater than deactivate_after_days (100)",
    ),
    (
        "warn == rotate",
        {"warn_before_days": 90},
        "warn_before_days",
        90,
        "smaller than rotate_after_days (90)",
    ),
    (
        "warn > rotate",
        {"warn_before_days": 120},
        "warn_before_days",
        120,
        "smaller than rotate_after_days (90)",
    ),
    (
        "unknown unused_key_action",
        {"unused_key_action": "delete"},
        "unused_key_action",
        "delete",
        "'deactivate' or 'rotate'",
    ),
    (
        "unused_key_action wrong case",
        {"unused_key_action": "Rotate"},
        "unused_key_action",
        "Rotate",
        "'deactivate' or 'rotate'",
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "field", "value", "fix"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_invalid_policy_is_rejected_naming_field_value_and_fix(
    kwargs: dict[str, object], field: str, value: object, fix: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        RotationPolicy(**kwargs)  # type: ignore[arg-type]
    error = caught.value
    assert isinstance(error, InputError)
    assert error.field == field
    assert error.value == value
    assert type(error.value) is type(value)
    assert fix in error.fix
    assert str(error).startswith(f"{field}: {value!r} is not valid: ")
