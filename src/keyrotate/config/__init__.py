"""Validated configuration: one model, three sources, one resolver.

    settings = load_settings(Path("keyrotate.yaml"), os.environ, {"dry_run": False})
    policy = settings.policy()          # the engine's RotationPolicy
    for row in settings.describe():     # (field, env_name, value, source)
        ...

Precedence per field is flag (``overrides``) > environment > file > default. Environment names
(``ENV_NAMES``) follow the AWS pattern's CloudFormation parameters, so the Lambda deployment maps
them 1:1. Every problem is an :class:`~keyrotate.domain.errors.InputError`.
"""

from keyrotate.aws.regions import is_known_region, known_regions, partition_for_region
from keyrotate.config.loader import SettingsError, load_settings, read_config_file
from keyrotate.config.settings import (
    ENV_NAMES,
    ENV_VARIABLES,
    ScanMode,
    SettingRow,
    Settings,
    Source,
)
from keyrotate.notify.options import EmailTransport, SmtpSecurity

__all__ = [
    "ENV_NAMES",
    "ENV_VARIABLES",
    "EmailTransport",
    "ScanMode",
    "SettingRow",
    "Settings",
    "SettingsError",
    "SmtpSecurity",
    "Source",
    "is_known_region",
    "known_regions",
    "load_settings",
    "partition_for_region",
    "read_config_file",
]
