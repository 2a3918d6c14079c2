"""Validated value types for :class:`~keyrotate.config.settings.Settings`.

Each type is ``Annotated[<python type>, BeforeValidator(...)]``. The validator accepts what the
three sources actually deliver (YAML scalars, environment strings, CLI strings) and rejects
anything else with a :class:`PydanticCustomError` whose message *is the fix*, so the loader
can print "<field>: <value> is not valid: <fix>" without pydantic's wording.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from email.utils import parseaddr
from string import Formatter
from typing import Annotated

import yaml
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from keyrotate.aws.regions import is_known_region, known_regions
from keyrotate.domain.exemptions import ScopeExemption
from keyrotate.domain.kms_keys import ALIAS, is_key_identifier
from keyrotate.domain.secret_names import SECRET_NAME_CHARACTERS, SECRET_NAME_MAX, is_secret_name
from keyrotate.domain.state_tags import parse_stamp


def problem(kind: str, fix: str) -> PydanticCustomError:
    """A validation error whose message is ``fix`` verbatim (braces in it are not templated)."""
    return PydanticCustomError(kind, "{fix}", {"fix": fix})


# --- booleans and numbers ------------------------------------------------------------------

TRUE_WORDS = frozenset({"true", "yes", "1", "on"})
FALSE_WORDS = frozenset({"false", "no", "0", "off"})


def _flag(value: object) -> bool:
    # CloudFormation passes "True"/"False"; YAML 1.1 already turns yes/no/on/off into bools.
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise problem("boolean", "use true or false (yes/no, on/off and 1/0 also work)")


def _whole_number(value: object) -> int:
    if isinstance(value, bool):  # bool is an int subclass; "rotate after True days" is a typo
        raise problem("whole_number", "use a whole number, e.g. 90")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        return int(value.strip())
    raise problem("whole_number", "use a whole number, e.g. 90")


def _number_between(low: int, high: int, what: str, why: str = "") -> Callable[[object], int]:
    def check(value: object) -> int:
        number = _whole_number(value)
        if not low <= number <= high:
            raise problem("out_of_range", f"use {what} from {low} to {high}{why}")
        return number

    return check


Flag = Annotated[bool, BeforeValidator(_flag)]
Days = Annotated[int, BeforeValidator(_whole_number)]  # positivity/order: RotationPolicy
WorkerCount = Annotated[
    int, BeforeValidator(_number_between(1, 64, "a number of parallel accounts"))
]
# Users of one account changed at once (keyrotate.service.guarded). IAM throttles an account
# past a few tens of calls a second; adaptive retries absorb the rest.
MAX_USER_WORKERS = 32
UserWorkerCount = Annotated[
    int,
    BeforeValidator(_number_between(1, MAX_USER_WORKERS, "a number of users at once")),
]
Port = Annotated[int, BeforeValidator(_number_between(1, 65535, "a TCP port number"))]

# The guardrails of an enforce run (keyrotate.domain.guardrails). A cap below 2 could never
# let through a rotation that must delete the key in its way first (one unit of two changes),
# so that user would be deferred for ever; a run that may change nothing is an audit.
MAX_ACTIONS = 100_000
ActionCap = Annotated[
    int,
    BeforeValidator(
        _number_between(
            2,
            MAX_ACTIONS,
            "a number of changes",
            " (a rotation that first deletes the key in its way is two changes that go "
            "together; to change nothing, run in audit mode)",
        )
    ),
]
Percent = Annotated[
    int,
    BeforeValidator(_number_between(1, 100, "a percentage", " (100: the breaker never trips)")),
]
ActionCount = Annotated[
    int, BeforeValidator(_number_between(1, MAX_ACTIONS, "a number of attempted changes"))
]


# --- lists ---------------------------------------------------------------------------------


def comma_list(value: object) -> object:
    """Environment variables and flags carry lists as "a,b,c"; YAML may use either form."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]  # a lone unquoted account ID in YAML
    return value


# --- strings matching a pattern ------------------------------------------------------------


def _matching(pattern: str, kind: str, fix: str) -> Callable[[object], str]:
    compiled = re.compile(pattern)

    def check(value: object) -> str:
        if isinstance(value, str) and compiled.fullmatch(value.strip()):
            return value.strip()
        raise problem(kind, fix)

    return check


def _pattern(pattern: str, kind: str, fix: str) -> BeforeValidator:
    return BeforeValidator(_matching(pattern, kind, fix))


def _account_id(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # YAML reads an unquoted 123456789012 as a number
    if isinstance(value, str) and re.fullmatch(r"\d{12}", value.strip()):
        return value.strip()
    raise problem(
        "account_id",
        "use a 12-digit AWS account ID such as '123456789012'; "
        "quote it in YAML so leading zeros are kept",
    )


_IAM_NAME_CHARS = r"[A-Za-z0-9_+=,.@-]"

AccountId = Annotated[str, BeforeValidator(_account_id)]
OrgId = Annotated[
    str,
    _pattern(
        r"o-[a-z0-9]{10,32}",
        "org_id",
        "use the organization ID: 'o-' then 10 to 32 lowercase letters or digits",
    ),
]
OU_ID_PATTERN = r"ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32}"
# An OU by its path as the report prints it ('/Root/Workloads/Prod'); resolved against the
# organization's tree when the accounts are listed (keyrotate.aws.organizations.resolve_ou).
OU_PATH_PATTERN = r"/[^,\n]{1,2047}"
OU_FIX = (
    "use an OU ID like 'ou-ab12-cdef3456', the root ID like 'r-ab12', or an OU path as the "
    "report prints it, like '/Root/Workloads'"
)
OrgUnitId = Annotated[str, _pattern(f"{OU_ID_PATTERN}|{OU_PATH_PATTERN}", "ou_id", OU_FIX)]
IamName = Annotated[
    str,
    _pattern(
        _IAM_NAME_CHARS + "{1,64}",
        "iam_name",
        "use 1 to 64 letters, digits or _+=,.@-",
    ),
]
GroupName = Annotated[
    str,
    _pattern(
        _IAM_NAME_CHARS + "{1,128}",
        "iam_name",
        "use 1 to 128 letters, digits or _+=,.@-",
    ),
]
SessionName = Annotated[
    str,
    _pattern(
        _IAM_NAME_CHARS + "{2,64}",
        "session_name",
        "use 2 to 64 letters, digits or _+=,.@-",
    ),
]
ExternalId = Annotated[
    str,
    _pattern(
        r"[A-Za-z0-9_+=,.@:/-]{2,1224}",
        "external_id",
        "use 2 to 1224 letters, digits or _+=,.@:/-",
    ),
]
ForcedUser = Annotated[
    str,
    _pattern(
        r"\d{12}:" + _IAM_NAME_CHARS + "{1,64}",
        "forced_user",
        "use ACCOUNTID:USERNAME, e.g. '123456789012:deploy-bot' "
        "(12-digit account ID, IAM user name of letters, digits and _+=,.@-)",
    ),
]
TagKey = Annotated[
    str,
    _pattern(
        r"[\w .:/=+@-]{1,128}",
        "tag_key",
        "use a tag key of 1 to 128 letters, digits, spaces or _.:/=+-@",
    ),
]
# member-role.yaml's ProtectedUserArns and ManagedUserPath, which the code applies too
# (keyrotate.domain.protection): the same forms as the template's AllowedPattern.
UserArnPattern = Annotated[
    str,
    _pattern(
        r"arn:aws[a-z-]*:iam::(\d{12}|\*):user/[\w+=.@/*?-]{1,512}",
        "user_arn_pattern",
        "use a user ARN pattern such as 'arn:aws:iam::*:user/breakglass/*' (* and ? wildcards)",
    ),
]
IamPath = Annotated[
    str,
    _pattern(
        r"/([\w+=,.@-]+/)*",
        "iam_path",
        "use an IAM path that starts and ends with '/', such as '/' or '/service-accounts/'",
    ),
]
PrincipalArn = Annotated[
    str,
    _pattern(
        r"arn:aws[a-z-]*:iam::\d{12}:(root|(user|role)/[A-Za-z0-9_+=,.@/-]+)",
        "principal_arn",
        "use an IAM ARN such as 'arn:aws:iam::123456789012:role/app' or '...:user/app'",
    ),
]
SsmParameterName = Annotated[
    str,
    _pattern(
        r"[A-Za-z0-9_.\-/]{1,2048}",
        "ssm_name",
        "use an SSM parameter name such as '/keyrotate/smtp/user'",
    ),
]
BucketName = Annotated[
    str,
    _pattern(
        r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]",
        "bucket",
        "use an S3 bucket name: 3 to 63 lowercase letters, digits, dots or hyphens",
    ),
]
HostName = Annotated[
    str,
    _pattern(r"[A-Za-z0-9.:\[\]-]{1,253}", "host", "use a host name such as 'smtp.example.com'"),
]


# --- regions -------------------------------------------------------------------------------


def _region(value: object) -> str:
    if isinstance(value, str) and is_known_region(value.strip()):
        return value.strip()
    # A swapped pair of letters ("us-esat-1") is the usual typo; prefer that over difflib.
    regions = sorted(known_regions())
    close = [name for name in regions if sorted(name) == sorted(str(value))]
    close = close or difflib.get_close_matches(str(value), regions, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise problem("region", f"{hint}use a region name botocore knows, e.g. 'us-east-1'")


Region = Annotated[str, BeforeValidator(_region)]


# --- e-mail --------------------------------------------------------------------------------

_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


def _email_address(value: object) -> str:
    if isinstance(value, str) and _ADDRESS.fullmatch(value.strip()):
        return value.strip()
    raise problem("email", "use an e-mail address such as 'security@example.com'")


def _email_sender(value: object) -> str:
    """An address, optionally with a display name: 'Key Rotation <keys@example.com>'."""
    if isinstance(value, str):
        _, address = parseaddr(value.strip())
        if _ADDRESS.fullmatch(address) and address in value:
            return value.strip()
    raise problem(
        "email", "use an e-mail address such as 'keys@example.com' or 'Keys <keys@example.com>'"
    )


EmailAddress = Annotated[str, BeforeValidator(_email_address)]
EmailSender = Annotated[str, BeforeValidator(_email_sender)]


def lowercase(value: object) -> object:
    """Enumerations are matched case-insensitively ('SMTP' means 'smtp')."""
    return value.strip().lower() if isinstance(value, str) else value


# Lower case, as the deployment's ses:Recipients pattern compares case-sensitively. (Before
# validators run last to first: the lower-casing comes first.)
EmailDomain = Annotated[
    str,
    _pattern(
        r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+",
        "email_domain",
        "use a mail domain such as 'example.com': no '@', no wildcard, subdomains listed",
    ),
    BeforeValidator(lowercase),
]


# --- templates and secret names ------------------------------------------------------------

_S3_URL = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S+")


def _template_location(value: object) -> str:
    # Existence is checked by whoever loads the template (S3 needs a call; paths are relative
    # to where the tool runs), not here.
    if isinstance(value, str) and value.strip():
        location = value.strip()
        if "://" not in location and not location.startswith("s3:"):
            return location
        if _S3_URL.fullmatch(location):
            return location
    raise problem("template", "use a local file path or an S3 URL like 's3://bucket/key.html'")


TemplateLocation = Annotated[str, BeforeValidator(_template_location)]

SECRET_NAME_PLACEHOLDERS = ("account_id", "user_name")


def placeholders_of(name_format: str) -> set[str]:
    """The ``{...}`` fields of a secret name format (ValueError: unbalanced braces)."""
    return {name for _, name, _, _ in Formatter().parse(name_format) if name is not None}


def _secret_name_format(value: object) -> str:
    allowed = "placeholders are {account_id} and {user_name}"
    if not isinstance(value, str):
        raise problem(
            "secret_name_format", f"use text such as 'keyrotate/{{user_name}}'; {allowed}"
        )
    try:
        placeholders = placeholders_of(value)
    except ValueError:
        raise problem("secret_name_format", f"balance the braces; {allowed}") from None
    unknown = sorted(placeholders - set(SECRET_NAME_PLACEHOLDERS))
    if unknown:
        names = ", ".join("{" + name + "}" for name in unknown)
        raise problem("secret_name_format", f"remove {names}: the only {allowed}")
    if "user_name" not in placeholders:
        raise problem("secret_name_format", "include {user_name} so every user gets its own secret")
    sample = value.format(account_id="123456789012", user_name="user")
    if not is_secret_name(sample):
        raise problem(
            "secret_name_format",
            f"use only {SECRET_NAME_CHARACTERS} around the placeholders (a Secrets Manager "
            f"name, at most {SECRET_NAME_MAX} characters)",
        )
    return value


SecretNameFormat = Annotated[str, BeforeValidator(_secret_name_format)]


# --- KMS keys ------------------------------------------------------------------------------


def _kms_key(value: object) -> str:
    if isinstance(value, str) and is_key_identifier(value.strip()):
        return value.strip()
    raise problem(
        "kms_key",
        "use a KMS key ARN such as 'arn:aws:kms:us-east-1:123456789012:key/mrk-...' "
        "(a key id or 'alias/...' also works, looked up in the account that stores the secret)",
    )


def _kms_alias(value: object) -> str:
    if isinstance(value, str) and ALIAS.fullmatch(value.strip()):
        return value.strip()
    raise problem(
        "kms_alias",
        "use an alias name such as 'alias/keyrotate-secrets' (letters, digits and /_- after "
        "'alias/'): it is looked up in each member account, so a key id or ARN, which names "
        "one account's key, cannot serve them all",
    )


KmsKeyRef = Annotated[str, BeforeValidator(_kms_key)]
KmsAlias = Annotated[str, BeforeValidator(_kms_alias)]


# --- account and OU exemptions -------------------------------------------------------------

EXEMPTION_FIX = (
    "write each exemption as {account: '123456789012'} or {ou: ou-ab12-cdef3456 or "
    "/Root/Path}, with optional expires: 2027-01-31 and reason: text; in the environment "
    "'123456789012;expires=2027-01-31;reason=text' items separated by commas, or the YAML list"
)
_ENTRY_KEYS = frozenset({"account", "ou", "expires", "reason"})


def exemption_list(value: object) -> object:
    """The AccountExemptions list from what a source delivers: a YAML list already, or a
    string (environment, flag): a YAML flow list when it starts with '[', else comma-separated
    items in the exemption tag's syntax."""
    if not isinstance(value, str):
        return comma_list(value)
    text = value.strip()
    if text.startswith("["):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            raise problem("exemptions", f"fix the YAML list; {EXEMPTION_FIX}") from None
    return [item.strip() for item in text.split(",") if item.strip()]


def _exemption_entry(value: object) -> ScopeExemption:
    if isinstance(value, ScopeExemption):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # a lone unquoted account id
    if isinstance(value, str):
        value = _entry_from_text(value)
    if not isinstance(value, dict) or set(value) - _ENTRY_KEYS:
        raise problem("exemption", EXEMPTION_FIX)
    targets = [key for key in ("account", "ou") if value.get(key) not in (None, "")]
    if len(targets) != 1:
        raise problem("exemption", f"name exactly one account or one ou per entry; {EXEMPTION_FIX}")
    kind = targets[0]
    target = _account_id(value[kind]) if kind == "account" else _ou_target(value[kind])
    reason = value.get("reason")
    if reason is not None and not isinstance(reason, str | int | float):
        raise problem("exemption", "write the reason as text")
    return ScopeExemption(kind, target, _expiry(value.get("expires")), str(reason or "").strip())


def _entry_from_text(text: str) -> dict[str, object]:
    """'123456789012;expires=2027-01-31;reason=vendor': the target, then the tag's fields."""
    head, *fields = [part.strip() for part in text.split(";")]
    entry: dict[str, object] = {"ou" if _looks_like_ou(head) else "account": head}
    for field in fields:
        name, sep, content = field.partition("=")
        name = "expires" if name.strip() == "until" else name.strip()
        if not sep or name not in ("expires", "reason"):
            raise problem("exemption", f"unknown part {field!r}; {EXEMPTION_FIX}")
        entry[name] = content.strip()
    return entry


def _looks_like_ou(text: str) -> bool:
    return text.startswith(("/", "ou-", "r-"))


def _ou_target(value: object) -> str:
    if isinstance(value, str) and re.fullmatch(f"{OU_ID_PATTERN}|{OU_PATH_PATTERN}", value.strip()):
        return value.strip()
    raise problem("ou_id", OU_FIX)


def _expiry(value: object) -> datetime | None:
    """An end as a date (00:00 UTC that day) or a moment; None for no end."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    moment = parse_stamp(str(value).strip()) if isinstance(value, str) else None
    if moment is None:
        raise problem("expires", "write the end as a date such as 2027-01-31 (00:00 UTC)")
    return moment


AccountExemption = Annotated[ScopeExemption, BeforeValidator(_exemption_entry)]

# How long a secret stays orphaned (its user or key gone) before `keyrotate cleanup --enforce`
# schedules its deletion (keyrotate.service.cleanup).
GraceDays = Annotated[
    int,
    BeforeValidator(
        _number_between(
            1, 3650, "a number of days", " (the time an owner has to notice before it goes)"
        )
    ),
]


# --- events (docs/events.md) -----------------------------------------------------------------

_EVENT_BUS = re.compile(
    r"[A-Za-z0-9._\-/]{1,256}|arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[A-Za-z0-9._\-/]{1,256}"
)


def _event_bus(value: object) -> str:
    if isinstance(value, str) and _EVENT_BUS.fullmatch(value.strip()):
        return value.strip()
    raise problem(
        "event_bus",
        "use 'default' (the account's default bus), a bus name of letters, digits and ._-/, "
        "or an event bus ARN",
    )


EventBusName = Annotated[str, BeforeValidator(_event_bus)]
