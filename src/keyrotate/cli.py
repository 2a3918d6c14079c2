"""The ``keyrotate`` command line: parse, call the service, format. No AWS calls of its own."""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="keyrotate")
def main() -> None:
    """Rotate AWS IAM user access keys across an AWS Organization."""
