"""Build :class:`Settings` from flags, environment and a YAML file: the one place precedence lives.

Precedence, per field: flag (``overrides``) > environment > file > default. A source either
sets a field or it does not; lists are replaced, never merged. An empty environment variable
counts as unset, because CloudFormation passes "" for a parameter left blank.

Every failure is an :class:`InputError` (exit code 2 at the CLI) whose message names the
setting by its file key *and* its environment name, the value, the fix, and where the value
came from. Several problems are reported together as one :class:`SettingsError`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from keyrotate.config.settings import ENV_NAMES, ENV_VARIABLES, Settings, Source
from keyrotate.domain.errors import InputError


class SettingsError(InputError):
    """Several configuration problems at once; ``problems`` holds each as an InputError."""

    def __init__(self, problems: Sequence[InputError]) -> None:
        first = problems[0]
        super().__init__(first.field, first.value, first.fix)
        self.problems = tuple(problems)

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


def load_settings(
    config_path: Path | None,
    env: Mapping[str, str],
    overrides: Mapping[str, object],
) -> Settings:
    """Resolve every setting from its highest source and validate the result.

    ``overrides`` are keyed by field name (what the CLI's flags set); a None value means "not
    given". ``env`` is usually ``os.environ``; only the names in ``ENV_VARIABLES`` are read.
    """
    file_values = read_config_file(config_path) if config_path is not None else {}
    flag_values = {name: value for name, value in overrides.items() if value is not None}
    unknown = [name for name in flag_values if name not in Settings.model_fields]
    if unknown:
        raise SettingsError([_unknown_key(name, "overrides") for name in unknown])

    env_used: dict[str, str] = {}
    merged: dict[str, object] = {}
    sources: dict[str, Source] = {}
    for name in Settings.model_fields:
        if name in flag_values:
            merged[name], sources[name] = flag_values[name], "flag"
        elif (env_name := _first_set(env, ENV_VARIABLES[name])) is not None:
            merged[name], sources[name] = env[env_name], "env"
            env_used[name] = env_name
        elif name in file_values:
            merged[name], sources[name] = file_values[name], "file"

    origin = _Origin(sources, env_used, config_path)
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        raise SettingsError([origin.problem(error) for error in exc.errors()]) from exc
    except InputError as exc:  # a check across fields (Settings._check_combination, policy)
        raise origin.relabel(exc) from exc
    # A threshold given as a window (InstallWindow, RecoveryWindow) comes from where the window
    # came from, and `keyrotate config` says so instead of "default".
    for window, threshold in (
        ("install_window_days", "deactivate_after_days"),
        ("recovery_window_days", "delete_after_days"),
    ):
        if window in sources and threshold not in sources:
            sources[threshold] = sources[window]
            if window in env_used:
                env_used[threshold] = env_used[window]
    settings._sources = sources
    settings._env_read = env_used
    return settings


def read_config_file(path: Path) -> dict[str, object]:
    """A flat YAML mapping of snake_case setting names. Unknown names are errors."""
    where = f"config file {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            "--config", str(path), "no such file; give the path of a YAML file"
        ) from None
    except IsADirectoryError:
        raise InputError("--config", str(path), "this is a directory; give a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError("--config", str(path), f"cannot read it ({exc})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _yaml_problem(where, text, exc) from exc
    if data is None:  # an empty file (or only comments) sets nothing
        return {}
    if not isinstance(data, dict):
        raise InputError(
            where,
            f"a {type(data).__name__} at the top level",
            "write a mapping of setting names to values, e.g. 'rotate_after_days: 90'",
        )
    problems = [_unknown_key(key, where) for key in data if key not in Settings.model_fields]
    if problems:
        raise SettingsError(problems)
    return {str(key): value for key, value in data.items()}


def _first_set(env: Mapping[str, str], names: Sequence[str]) -> str | None:
    for name in names:
        if env.get(name, "").strip():
            return name
    return None


def _unknown_key(key: object, where: str) -> InputError:
    text = str(key)
    by_env_name = {env.lower(): field for field, env in ENV_NAMES.items()}
    if text.lower() in by_env_name:
        return InputError(
            where,
            key,
            f"unknown setting; did you mean '{by_env_name[text.lower()]}'? "
            "(files use snake_case names; the environment uses the CamelCase ones)",
        )
    close = difflib.get_close_matches(text, list(Settings.model_fields), n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else "see `keyrotate config` for the names"
    return InputError(where, key, f"unknown setting; {hint}")


def _yaml_problem(where: str, text: str, exc: yaml.YAMLError) -> InputError:
    reason = getattr(exc, "problem", None) or "invalid YAML"
    lines = text.splitlines()
    # An unclosed bracket is reported at the end of the file; the line that opened it (the
    # context mark) is the one to show.
    marks = [getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)]
    for mark in (m for m in marks if m is not None):
        snippet = lines[mark.line].strip() if mark.line < len(lines) else ""
        if snippet:
            return InputError(
                where,
                snippet,
                f"fix the YAML syntax at line {mark.line + 1}, column {mark.column + 1}: {reason}",
            )
    return InputError(where, "(unparsable)", f"fix the YAML syntax: {reason}")


class _Origin:
    """Turns a problem with a field into a message that says where its value came from."""

    def __init__(
        self, sources: Mapping[str, Source], env_used: Mapping[str, str], path: Path | None
    ) -> None:
        self._sources = sources
        self._env_used = env_used
        self._path = path

    def label(self, field: str) -> str:
        env_name = self._env_used.get(field) or ENV_NAMES.get(field)
        return f"{field} ({env_name})" if env_name else field

    def told_by(self, field: str, value: object) -> str:
        source = self._sources.get(field, "default")
        if source == "flag":
            return "from a command-line flag"
        if source == "env":
            return f"from the environment variable {self._env_used[field]}"
        if source == "file":
            return f"from {self._path}"
        return "not set" if value is None else "the default"

    def problem(self, error: ErrorDetails) -> InputError:
        location = error["loc"]
        field = str(location[0]) if location else "settings"
        label = self.label(field)
        if len(location) > 1 and isinstance(location[1], int):
            label += f" item {location[1] + 1}"
        return InputError(
            label, error["input"], f"{_fix(error)} ({self.told_by(field, error['input'])})"
        )

    def relabel(self, exc: InputError) -> InputError:
        if exc.field not in Settings.model_fields:
            return exc
        fix = f"{exc.fix} ({self.told_by(exc.field, exc.value)})"
        return type(exc)(self.label(exc.field), exc.value, fix)


def _fix(error: ErrorDetails) -> str:
    """Our own validators' messages are already the fix; reword pydantic's few built-ins."""
    context = error.get("ctx") or {}
    if "fix" in context:
        return str(context["fix"])
    message = error["msg"]
    if message.startswith("Input should be "):
        return "use " + message.removeprefix("Input should be ")
    return message
