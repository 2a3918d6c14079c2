"""A wrapper that keeps a secret access key out of every repr, log line and traceback."""

from __future__ import annotations


class SecretText:
    """Holds a secret string; only :meth:`reveal` gives it back, on purpose."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretText('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretText) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)
