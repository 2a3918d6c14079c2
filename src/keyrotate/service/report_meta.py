"""What a report says about the run itself: its id, the tool's version, the policy's values,
and where each setting that is not a default came from. Every report format shows it (the
JSON report's ``run`` object, the HTML report's header).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from keyrotate.config.settings import SettingRow
from keyrotate.domain.policy import RotationPolicy

# The policy's values as the report names them (the settings' own names).
_POLICY_FIELDS = (
    "rotate_after_days",
    "deactivate_after_days",
    "delete_after_days",
    "warn_before_days",
    "unused_key_action",
    "hold_if_previous_in_use",
    "hold_escalate_after_days",
    "in_use_days",
)


def tool_version() -> str:
    try:
        return version("keyrotate")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


@dataclass(frozen=True, slots=True)
class RunMeta:
    """The run's identity and configuration, for readers of its report."""

    run_id: str
    tool_version: str
    policy: RotationPolicy
    # (setting, value, source) of every setting not left at its default: flag, env, file.
    settings: tuple[tuple[str, object, str], ...] = ()

    @classmethod
    def of(cls, run_id: str, policy: RotationPolicy, rows: Iterable[SettingRow]) -> RunMeta:
        chosen = tuple(
            (r.field, "(set)" if _withheld(r.field) else r.value, str(r.source))
            for r in rows
            if r.source != "default"
        )
        return cls(run_id, tool_version(), policy, chosen)

    def policy_values(self) -> dict[str, Any]:
        return {name: _plain(getattr(self.policy, name)) for name in _POLICY_FIELDS}

    def record(self) -> dict[str, Any]:
        """The JSON report's ``run`` object (added in schema 1)."""
        return {
            "run_id": self.run_id,
            "tool_version": self.tool_version,
            "policy": self.policy_values(),
            "settings": [
                {"setting": name, "value": value, "source": source}
                for name, value, source in self.settings
            ],
        }


def _withheld(name: str) -> bool:
    """A setting whose value a report (shared, kept in S3) does not repeat: the external id
    guards the member roles, and a password never belongs in a setting anyway."""
    return any(word in name for word in ("external_id", "password"))


def _plain(value: object) -> object:
    return str(value) if not isinstance(value, bool | int | float | str) else value
