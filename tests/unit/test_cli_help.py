"""``--help`` tells exit codes and environment names; the user docs stay inside the repository.

The environment names in help are generated from the settings' table, so these tests check
the generation reaches every command, and that docs/cli.md (written by hand) names every
variable the table has: a setting added without its line in the docs fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from keyrotate.cli import main
from keyrotate.cli.help_text import EXIT_CODES, environment_names
from keyrotate.config import ENV_VARIABLES

ROOT = Path(__file__).resolve().parents[2]
USER_DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
# Loopback addresses are the emulator's, shown in examples: never a page outside the repo.
_LINK = re.compile(r"https?://[^\s)>\]`'\"]+")
_LOCAL = re.compile(r"https?://(127\.0\.0\.1|localhost)([:/]|$)")
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]+`")


def _help(*args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # click wraps: compare word runs


def test_group_help_lists_every_exit_code_and_every_environment_name() -> None:
    text = _help()
    for code, meaning in EXIT_CODES:
        assert f"{code} {' '.join(meaning.split())}" in text
    for name in environment_names():
        assert re.search(rf"\b{re.escape(name)}\b", text), name
    assert "_KEYROTATE_COMPLETE=bash_source keyrotate" in text


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_help_lists_the_exit_codes(command: str) -> None:
    text = _help(command)
    assert "Exit codes:" in text
    assert all(f"{code} " in text for code, _ in EXIT_CODES)


def test_commands_that_read_settings_list_the_environment_and_the_others_do_not() -> None:
    assert "RotationPeriod" in _help("run")
    assert "RotationPeriod" in _help("plan")
    assert "RotationPeriod" not in _help("demo")  # it reads no settings


def test_environment_names_come_from_the_settings_table() -> None:
    table = {name for names in ENV_VARIABLES.values() for name in names}
    assert table <= set(environment_names())


def test_cli_doc_names_every_environment_variable_and_exit_code() -> None:
    doc = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    missing = [n for n in environment_names() if not re.search(rf"`{re.escape(n)}`", doc)]
    assert not missing, f"docs/cli.md lacks {missing}"
    for code, _ in EXIT_CODES:
        assert re.search(rf"^\| *`?{code}`? *\|", doc, re.MULTILINE), code
    assert "_KEYROTATE_COMPLETE=bash_source keyrotate" in doc


def test_readme_links_the_cli_doc() -> None:
    assert "(docs/cli.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def outside_links(text: str) -> list[str]:
    """Links a reader could follow out of the repository. Code (fenced blocks, `spans`) is
    what the reader types, such as an example configuration's sso_start_url: not a link."""
    prose = _CODE_SPAN.sub("", _FENCE.sub("", text))
    return [m for m in _LINK.findall(prose) if not _LOCAL.match(m)]


@pytest.mark.parametrize("doc", USER_DOCS, ids=[p.name for p in USER_DOCS])
def test_user_docs_link_nothing_outside_the_repository(doc: Path) -> None:
    outside = outside_links(doc.read_text(encoding="utf-8"))
    assert not outside, f"{doc.name} links outside the repository: {outside}"


def test_the_link_check_catches_an_outside_link_and_passes_code() -> None:
    sample = (
        "see [rules](https://example.com/rules.md), <http://docs.example.org/x> or "
        "http://127.0.0.1:5000/\n```\nsso_start_url = https://my-org.awsapps.com/start\n```\n"
        "and `https://in.code/span`"
    )
    assert outside_links(sample) == ["https://example.com/rules.md", "http://docs.example.org/x"]


def test_the_documented_completion_works_in_the_installed_command() -> None:
    keyrotate = Path(sys.executable).parent / "keyrotate"
    script = subprocess.run(
        [str(keyrotate)],
        env={**os.environ, "_KEYROTATE_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "complete -o nosort -F _keyrotate_completion keyrotate" in script
    answer = subprocess.run(
        [str(keyrotate)],
        env={
            **os.environ,
            "_KEYROTATE_COMPLETE": "bash_complete",
            "COMP_WORDS": "keyrotate cl",
            "COMP_CWORD": "1",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "plain,cleanup" in answer.splitlines()
