"""E-mail notifications: who hears what after a run, rendered from editable templates.

Entry point: :class:`Notifier`, built once at start-up with ``Notifier.from_options`` (the
templates read, the transport chosen), so that a bad template or transport setting raises
:class:`~keyrotate.domain.errors.InputError` (naming the setting) before any key changes.
Each of its methods returns ``tuple[NotificationResult, ...]`` and never raises for a failed
send (failures are retried 3 times, then recorded with ``sent=False``)::

    notifier.notify_run(report, policy)          # one process: owners, then the digest
    notifier.notify_account(account_result, mode=..., started=...)
                                                 # rotate_account Lambda: its owners only
    notifier.notify_admin(report, policy, failed_notifications)
                                                 # digest Lambda: the admin digest only

Recipients, one mail per address per run, never one per action:

- account owner (the account's Organizations e-mail): every user of the account with news;
- resource owner (the user's owner tag): their users, across all accounts; an address that
  is also an account owner gets one mail (role ``account-owner``). In the Lambda split each
  account is mailed on its own, so a resource owner gets one mail per account;
- admin (``admin_email_address``): one digest per run, sent even when nothing happened.

A user with no action, or only EXEMPT, is news to no one. Owner values that are not e-mail
addresses are not mailed; they come back as unsent results and are listed in the digest.

Templates (``templates/`` in this package; overrides in ``email_template_audit``,
``email_template_enforce``, ``email_template_digest``, see :mod:`keyrotate.notify.render`)
see these variables:

- every mail: ``mode``, ``role``, ``recipient``, ``started``, ``footer``; filter ``when``;
- owner mails: ``accounts`` (``account_id``, ``account_name``, ``account_email``,
  ``users`` → ``user_name``, ``owner``, ``items`` → ``kind``, ``outcome``, ``key_id``,
  ``due``, ``reason``, ``upcoming``, ``overdue``, ``error``, ``new_key_id``, ``secret``
  (``name``, ``arn``, ``region``, ``replica_regions``), ``fetch_command``, and in plain
  words (:mod:`keyrotate.notify.guidance`): ``outcome_label``, ``headline``, ``summary``,
  ``why``, ``todo``, ``undo_command``, ``next_steps`` → ``when``, ``kind``, ``words``),
  each user's ``secret`` (``name``, ``region``, ``get_command``, ``helper_command``; none
  when no secret can be named), ``changes``, ``failures``, ``notices``, ``contact`` (the
  admin address: whom owners ask);
- digest: ``finished``, ``rotate_after_days``, ``digest`` (see
  :class:`keyrotate.notify.content.Digest`).

Transports (``email_transport``): ``ses`` (raw SES send), ``smtp`` (credentials from SSM
SecureString parameters, any mode), ``file`` (``.eml`` files in ``mail_dir``), ``none``.
"""

from __future__ import annotations

from keyrotate.notify.message import Message
from keyrotate.notify.notifier import Notifier
from keyrotate.notify.options import NotifyOptions
from keyrotate.notify.render import Templates
from keyrotate.notify.transports import (
    FileTransport,
    NoneTransport,
    SesTransport,
    SmtpTransport,
    Transport,
    build_transport,
    send_all,
)

__all__ = [
    "FileTransport",
    "Message",
    "NoneTransport",
    "Notifier",
    "NotifyOptions",
    "SesTransport",
    "SmtpTransport",
    "Templates",
    "Transport",
    "build_transport",
    "send_all",
]
