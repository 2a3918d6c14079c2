"""Render a mail's subject, text and HTML parts with Jinja2 from shipped or operator templates.

Each kind of mail (``audit``, ``enforce``, ``digest``) is one template file with three blocks,
``subject``, ``text`` and ``html``, over ``base.j2`` (which renders the block the ``part``
variable names). The HTML part is rendered with autoescaping on; subject and text by a
non-escaping twin, since they are not HTML. Both are sandboxed and strict about undefined
names. Values from AWS (account names, user names, tags) are only ever *data*: nothing a user
writes is compiled as a template, so ``{{ 7*7 }}`` in a tag stays ``{{ 7*7 }}``.

An operator override (local path or ``s3://bucket/key``) either

- ``{% extends "audit.j2" %}`` (or ``enforce.j2``/``digest.j2``) and redefines some blocks,
  e.g. ``footer`` or ``intro``, keeping the rest; or
- is a whole HTML document of its own (no ``extends``): it becomes the HTML part, and the
  subject and text parts come from the shipped template.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import ChoiceLoader, DictLoader, PackageLoader, StrictUndefined, TemplateError, nodes
from jinja2.sandbox import SandboxedEnvironment

from keyrotate.aws import s3
from keyrotate.domain.errors import InputError, KeyrotateError
from keyrotate.notify.guidance import when
from keyrotate.notify.options import NotifyOptions

if TYPE_CHECKING:
    from boto3.session import Session
    from mypy_boto3_s3 import S3Client

KINDS = ("audit", "enforce", "digest")
SETTING_FOR_KIND = {
    "audit": "email_template_audit",
    "enforce": "email_template_enforce",
    "digest": "email_template_digest",
}


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


@dataclass(frozen=True, slots=True)
class Override:
    setting: str  # the option that named it, for error messages
    location: str  # the path or s3:// URL it came from
    source: str
    extends: bool  # True: a full template; False: an HTML body only


def _environment(*, html: bool, overrides: Mapping[str, str]) -> SandboxedEnvironment:
    # autoescape is off only for the text twin, which renders plain text, not HTML.
    env = SandboxedEnvironment(
        loader=ChoiceLoader(
            [DictLoader(dict(overrides)), PackageLoader("keyrotate.notify", "templates")]
        ),
        autoescape=html,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    return env


@functools.cache
def _shipped_environments() -> tuple[SandboxedEnvironment, SandboxedEnvironment]:
    # Compiling the shipped templates once per process keeps every Lambda invocation and
    # test after the first cheap; the environments hold no per-run state.
    return _environment(html=True, overrides={}), _environment(html=False, overrides={})


def _override_name(kind: str) -> str:
    return f"override/{kind}.j2"


def _read(
    setting: str,
    location: str,
    s3_client: S3Client | None,
    session: Session | None,
    bucket_owner: str = "",
) -> str:
    if location.startswith("s3://"):
        parsed = s3.parse_s3_url(location)
        if parsed is None:
            raise InputError(setting, location, "write it as s3://bucket/key")
        try:
            return s3.get_object_text(
                *parsed,
                client=s3_client or s3.make_client(session),
                expected_owner=bucket_owner or None,
            )
        except KeyrotateError as exc:
            raise InputError(
                setting,
                location,
                f"the template could not be read ({exc}); check that the object exists and "
                "that the role may s3:GetObject it",
            ) from exc
    if "://" in location:
        raise InputError(setting, location, "use a local file path or s3://bucket/key")
    try:
        return Path(location).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            setting,
            location,
            f"the file could not be read ({exc.__class__.__name__}): "
            "give the path of a readable UTF-8 template file",
        ) from exc


class Templates:
    """The three mail templates, shipped or overridden, ready to render."""

    def __init__(self, overrides: Mapping[str, Override] | None = None) -> None:
        self._overrides = dict(overrides or {})
        if self._overrides:
            sources = {_override_name(k): o.source for k, o in self._overrides.items()}
            self._html = _environment(html=True, overrides=sources)
            self._text = _environment(html=False, overrides=sources)
        else:
            self._html, self._text = _shipped_environments()
        for override in self._overrides.values():
            self._check_syntax(override)

    @classmethod
    def load(
        cls,
        options: NotifyOptions,
        session: Session | None = None,
        *,
        s3_client: S3Client | None = None,
    ) -> Templates:
        """Read every override ``options`` names; raise :class:`InputError` naming the setting."""
        overrides: dict[str, Override] = {}
        for kind, setting in SETTING_FOR_KIND.items():
            location = str(getattr(options, setting) or "").strip()
            if not location:
                continue
            source = _read(setting, location, s3_client, session, options.template_bucket_owner)
            overrides[kind] = Override(setting, location, source, extends=False)
        return cls({k: _classified(o) for k, o in overrides.items()})

    def _check_syntax(self, override: Override) -> None:
        try:
            self._html.parse(override.source)
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            raise InputError(
                override.setting,
                override.location,
                f"the template does not compile (line {line}: {exc}); fix its Jinja2 syntax",
            ) from exc

    def render(self, kind: str, context: Mapping[str, Any]) -> Rendered:
        """Subject (one line), text and HTML of mail ``kind`` for ``context``."""
        if kind not in KINDS:
            raise ValueError(f"unknown mail kind {kind!r}")
        override = self._overrides.get(kind)
        shipped = f"{kind}.j2"
        full = _override_name(kind) if override and override.extends else shipped
        html_name = _override_name(kind) if override else shipped
        try:
            subject = self._text.get_template(full).render(context, part="subject")
            text = self._text.get_template(full).render(context, part="text")
            html = self._html.get_template(html_name).render(context, part="html")
        except TemplateError as exc:
            if override is None:
                raise
            raise InputError(
                override.setting,
                override.location,
                f"the template fails to render ({exc.__class__.__name__}: {exc}); "
                "use only the variables listed in keyrotate.notify's documentation",
            ) from exc
        return Rendered(" ".join(subject.split()), text.strip() + "\n", html)


def _classified(override: Override) -> Override:
    # Parsed with a throwaway environment just to look for {% extends %}; syntax errors
    # are reported with the setting's name by Templates._check_syntax.
    try:
        tree = SandboxedEnvironment().parse(override.source)
    except TemplateError:
        return override
    extends = tree.find(nodes.Extends) is not None
    return Override(override.setting, override.location, override.source, extends)
