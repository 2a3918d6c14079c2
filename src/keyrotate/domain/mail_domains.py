"""Which e-mail domains keyrotate may mail: one rule, applied by the code and by IAM.

The deployment lets the functions send through SES only to ``*@<domain>`` for each of
``AllowedEmailDomains`` (``ses:Recipients`` with ``ForAllValues:StringLike``, which compares
case-sensitively). The code applies the same rule before anything is sent, so an owner tag
that names another domain is reported in the digest as not mailed, instead of a send that
SES refuses (or, over SMTP, which IAM does not see, a mail to anyone the tag names).

The domain part of an address is case-insensitive in mail (RFC 5321), so an owner address
is sent with its domain in lower case, which is also what the IAM pattern matches; allowed
domains are written in lower case.

    >>> recipient_allowed("Ann@Example.COM", ("example.com",))
    False
    >>> recipient_allowed(with_lowercase_domain("Ann@Example.COM"), ("example.com",))
    True
    >>> recipient_allowed("ann@mail.example.com", ("example.com",))  # exact domains only
    False
    >>> recipient_allowed("ann@anywhere.test", ())  # no list: no limit (the CLI's default)
    True
"""

from __future__ import annotations

from collections.abc import Collection


def with_lowercase_domain(address: str) -> str:
    """``address`` with the part after its last ``@`` in lower case."""
    local, at, domain = address.rpartition("@")
    return f"{local}{at}{domain.lower()}" if at else address


def recipient_allowed(address: str, domains: Collection[str]) -> bool:
    """Whether ``address`` may be mailed: ``domains`` empty, or it ends in ``@<domain>``.

    Exactly what IAM's ``StringLike "*@<domain>"`` accepts, so the code never sends what
    the deployment's policy would refuse, and never refuses what it would allow.
    """
    return not domains or any(address.endswith(f"@{domain}") for domain in domains)


def refusal(address: str, domains: Collection[str]) -> str:
    """Why ``address`` is not mailed, for the digest (it names the setting and the fix)."""
    listed = ", ".join(sorted(domains))
    return (
        f"{address} is outside AllowedEmailDomains ({listed}): not mailed. Fix: set the "
        "owner to an address of an allowed domain, or add the domain to AllowedEmailDomains "
        "(the deployment's SES permission follows the same list)"
    )
