"""Repeated per-user problems, told once: one line per problem with a count and examples.

A missing read-own-secret policy in an account fails the read grant of every user rotated
there: forty lines saying the same thing hide the one that differs. Problems are grouped by
what happened (action, outcome) and by their message with the user's name taken out, so
``alice``'s and ``bob``'s identical AccessDenied become one line::

    ROTATE partial for 40 users (111111111111:alice, 111111111111:bob, ... and 37 more):
    the new key is stored, but granting the user read access failed: ...
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from keyrotate.domain.models import ActionKind
from keyrotate.domain.results import AccountResult, Outcome, UserResult

EXAMPLES = 3
_SHOWN = frozenset({Outcome.FAILED, Outcome.PARTIAL})
_USER = "<user>"


@dataclass
class Problem:
    """One kind of failure and every user it happened to, in the order they were seen."""

    kind: str
    outcome: str
    message: str
    users: list[str] = field(default_factory=list)

    def line(self, examples: int = EXAMPLES) -> str:
        who = counted(self.users, "user", examples)
        return f"{self.kind} {self.outcome} for {who}: {self.message}"


def counted(items: list[str], noun: str, examples: int = EXAMPLES) -> str:
    """``3 users (a, b, c)`` or ``40 users (a, b, c, ... and 37 more)``."""
    count = len(items)
    shown = ", ".join(items[:examples])
    more = f", ... and {count - examples} more" if count > examples else ""
    return f"{count} {noun}{'s' if count != 1 else ''} ({shown}{more})"


def _generic(message: str, user_name: str) -> str:
    """The message with the user's own name taken out, wherever it stands as a whole name
    (in its ARN too): IAM names are letters, digits and ``+=,.@_-``."""
    name = re.compile(rf"(?<![\w+=,.@-]){re.escape(user_name)}(?![\w+=,.@-])")
    return name.sub(_USER, message)


def group_problems(accounts: Iterable[AccountResult]) -> list[Problem]:
    """Failed and partial changes of every user, grouped; the largest group first."""
    groups: dict[tuple[str, str, str], Problem] = {}
    for account in accounts:
        account_id = account.account.account_id
        for user in account.users:
            for mark in _marks(user):
                problem = groups.get(mark)
                if problem is None:
                    problem = groups[mark] = Problem(*mark)
                problem.users.append(f"{account_id}:{user.user_name}")
    return sorted(groups.values(), key=lambda p: -len(p.users))


def _marks(user: UserResult) -> Iterator[tuple[str, str, str]]:
    """(kind, outcome, message without the user's name) of each problem of ``user``."""
    for result in user.results:
        if result.outcome in _SHOWN:
            message = _generic(result.error or "no detail recorded", user.user_name)
            yield result.action.kind.value, result.outcome.value, message
    if user.owed is not None:  # an earlier run's rotation, still partial
        yield ActionKind.ROTATE.value, Outcome.PARTIAL.value, _generic(user.owed, user.user_name)


def problem_lines(accounts: Iterable[AccountResult], examples: int = EXAMPLES) -> list[str]:
    """:func:`group_problems` as the lines the CLI prints on stderr."""
    return [p.line(examples) for p in group_problems(accounts)]
