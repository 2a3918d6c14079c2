"""What ``--help`` says after the options: exit codes and environment variables.

Generated, never hand-copied: the environment names come from the settings' one table
(:data:`keyrotate.config.ENV_VARIABLES`), so a setting added there shows up in every
command's help, and ``docs/cli.md`` is checked against the same table by a unit test.
"""

from __future__ import annotations

from keyrotate.config import ENV_VARIABLES
from keyrotate.logredact import LOG_LEVEL_ENV

EXIT_CODES: tuple[tuple[int, str], ...] = (
    (0, "success; changes a guardrail deferred and an audit's findings are no failure"),
    (1, "an account, a change to IAM or Secrets Manager, or a notification failed"),
    (2, "bad input (a setting, a flag, an OU or account that does not exist): nothing changed"),
    (130, "run interrupted (Ctrl-C, SIGTERM): changes under way finished, the rest deferred"),
)

COMPLETION = 'eval "$(_KEYROTATE_COMPLETE=bash_source keyrotate)"'


def exit_code_lines() -> list[str]:
    return [f"  {code}  {meaning}" for code, meaning in EXIT_CODES]


def environment_names() -> list[str]:
    """Every environment variable keyrotate reads, settings first, in the table's order."""
    names = [name for names in ENV_VARIABLES.values() for name in names]
    return [*names, LOG_LEVEL_ENV]


def epilog(*, settings: bool) -> str:
    """The text under a command's options. ``\\b`` keeps click from re-wrapping a block.

    ``settings``: the command reads the settings (the common options), so it lists the
    environment names too; the list is wrapped as one paragraph to keep help short.
    """
    parts = ["\b\nExit codes:\n" + "\n".join(exit_code_lines())]
    if settings:
        parts.append(
            "Environment (each also a snake_case key of the --config file; a flag wins over "
            "the environment, the environment over the file; `keyrotate config` shows where "
            "each value came from): " + ", ".join(environment_names()) + "."
        )
    parts.append(
        f"Shell completion (bash): {COMPLETION}; zsh_source and fish_source for those "
        "shells. See docs/cli.md."
    )
    return "\n\n".join(parts)
