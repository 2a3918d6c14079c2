"""The ``keyrotate`` command line: parse, call the service, format. No AWS calls of its own.

:mod:`keyrotate.cli.app` holds the group, the common options and the error handling (read its
docstring before adding a command); each command lives in a module of its own, imported here
so that it registers itself on the group.
"""

from keyrotate.cli import (
    cleanup_command,
    config_command,
    credentials_command,
    demo_command,
    doctor_command,
    plan_command,
    restore_command,
    rotate_command,
    run_command,
)
from keyrotate.cli.app import CommandInput, main, report_errors, settings_options

__all__ = [
    "CommandInput",
    "cleanup_command",
    "config_command",
    "credentials_command",
    "demo_command",
    "doctor_command",
    "main",
    "plan_command",
    "report_errors",
    "restore_command",
    "rotate_command",
    "run_command",
    "settings_options",
]
