"""Approved replies out through the platforms' send APIs, and the rules checked before sending.

Messenger, Instagram and WhatsApp: the Graph API `/{version}/{account id}/messages`; X: the
v2 `/2/dm_conversations/with/{participant id}/messages`. 429 and 5xx are worth retrying (after
the Retry-After the platform asks for), other 4xx are refused for good with the platform's own
error text, which staff see. A failure after the request may have reached the platform (its
answer lost) is uncertain: the send APIs cannot be asked whether it went out.
"""

from __future__ import annotations

import email.utils
import logging
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from responder.channels.delivery import (
    DeliveryHeld,
    DeliveryResult,
    OutgoingReply,
    PermanentDeliveryError,
    Sender,
    TemporaryDeliveryError,
    UncertainDeliveryError,
)
from responder.channels.social import PLATFORM, SOCIAL_KINDS
from responder.config import SocialSettings

log = logging.getLogger(__name__)

#: Longest text each platform's send API accepts: (limit, unit).
LIMITS = {
    "messenger": (2000, "characters"),
    "instagram": (1000, "bytes"),
    "whatsapp": (4096, "characters"),
    "x": (10000, "characters"),
}
#: Failures that prove the platform never had the whole request, so sending again cannot deliver
#: it twice: no connection (refused, name lookup, TLS, none free in the pool in time), a proxy
#: that would not connect, our own client refusing the request before it left, or a write cut
#: off part-way (no server acts on half a request). Any other failure (a read time-out, a
#: connection dropped or closed after the request was written, an answer that cannot be read)
#: may come after the platform took the request: uncertain, never resent blindly.
NEVER_ARRIVED = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    httpx.WriteTimeout,
)
#: Platforms that accept free-form replies only within hours of the customer's last message.
WINDOW_KINDS = frozenset({"messenger", "instagram", "whatsapp"})


def length_problem(kind: str, body: str) -> str | None:
    """A reviewer-facing sentence when the reply is too long for the platform, else None."""
    if kind not in LIMITS:
        return None
    limit, unit = LIMITS[kind]
    size = len(body.encode()) if unit == "bytes" else len(body)
    if size <= limit:
        return None
    return (
        f"this reply is {size:,} {unit} long; {PLATFORM[kind]} accepts at most {limit:,} {unit}. "
        f"Shorten it by {size - limit:,} {unit} before approving."
    )


def window_closes_at(kind: str, wrote_at: datetime | None, hours: float) -> datetime | None:
    """When free-form replies stop being accepted; None where the platform has no window.
    The one rule for the sender and for the review page's warning."""
    if kind not in WINDOW_KINDS or wrote_at is None:
        return None
    return wrote_at + timedelta(hours=hours)


def window_closed(
    kind: str, wrote_at: datetime | None, now: datetime, hours: float
) -> datetime | None:
    """When the reply window closed, if it has; None while replies are still allowed."""
    closes = window_closes_at(kind, wrote_at, hours)
    return closes if closes is not None and now > closes else None


def retry_after_seconds(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Retry-After in seconds or as an HTTP date; X's x-rate-limit-reset (epoch seconds)."""
    now = time.time() if now is None else now
    value = headers.get("retry-after")
    if value:
        value = value.strip()
        if value.isascii() and value.isdigit():  # float() takes '²' as no number
            return float(value)
        try:
            return max(email.utils.parsedate_to_datetime(value).timestamp() - now, 0.0)
        except (TypeError, ValueError):
            return None
    reset = headers.get("x-rate-limit-reset")
    if reset and reset.strip().isascii() and reset.strip().isdigit():
        return max(float(reset) - now, 0.0)
    return None


def platform_error(response: httpx.Response) -> str:
    """The platform's own words: Graph `error.message`, X `detail`/`errors[].message`."""
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            code = f" (code {error['code']})" if error.get("code") is not None else ""
            return f"{error['message']}{code}"
        if data.get("detail"):
            return str(data["detail"])
        errors = data.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return "; ".join(str(e.get("message") or e.get("detail") or e) for e in errors)
        if data.get("title"):
            return str(data["title"])
    return response.text.strip()[:500]


def access_token(settings: SocialSettings, kind: str) -> tuple[str, str]:
    """The platform's access token (empty when unset) and the variable it is read from."""
    name = {
        "messenger": settings.messenger_token_env,
        "instagram": settings.instagram_token_env,
        "whatsapp": settings.whatsapp_token_env,
        "x": settings.x_token_env,
    }[kind]
    return os.environ.get(name, ""), name


def template_in_place(reply: OutgoingReply, settings: SocialSettings, now: datetime) -> str:
    """The approved template `SocialSender.deliver` sends in the reply's place: WhatsApp's
    window closed and none sent since the customer last wrote. "" when it sends the reply
    itself, or nothing (another platform, no template configured, one already sent)."""
    if reply.channel_kind != "whatsapp" or not settings.whatsapp_template:
        return ""
    closed = window_closed(reply.channel_kind, reply.customer_wrote_at, now, settings.window_hours)
    if closed is None or reply.template_sent_at is not None:
        return ""
    return settings.whatsapp_template


def maybe_template(template: str) -> tuple[str, str]:
    """What may have gone out when a template's send was cut off or its answer lost, as
    `UncertainDeliveryError` names it (`what`), and as the conversation shows it (`instead`)."""
    return (
        f"template {template!r}",
        f"[WhatsApp template {template!r}, which may not have gone out]",
    )


class SocialSender:
    """One sender for every social kind; the request shape follows the channel's platform."""

    def __init__(self, settings: SocialSettings, client: httpx.Client | None = None) -> None:
        self.settings = settings
        self.client = client or httpx.Client(timeout=settings.timeout_seconds)

    def _token(self, kind: str) -> str:
        token, name = access_token(self.settings, kind)
        if not token:
            raise PermanentDeliveryError(
                f"no {PLATFORM[kind]} access token: set the environment variable {name}"
            )
        return token

    def _graph_url(self, kind: str, account: str) -> str:
        settings = self.settings
        base = settings.instagram_base_url if kind == "instagram" else settings.graph_base_url
        return f"{base.rstrip('/')}/{self.settings.graph_api_version}/{account}/messages"

    def request_for(self, reply: OutgoingReply, *, template: bool = False) -> tuple[str, dict]:
        """The URL and JSON body the platform documents for a text reply (or a template)."""
        kind = reply.channel_kind
        text = reply.body.strip()
        recipient = reply.recipients[0] if reply.recipients else ""
        if not recipient:
            raise PermanentDeliveryError("the reply has no recipient id")
        if kind == "x":
            base = self.settings.x_base_url.rstrip("/")
            return f"{base}/2/dm_conversations/with/{recipient}/messages", {"text": text}
        if not reply.channel_address:
            raise PermanentDeliveryError(f"the {PLATFORM[kind]} channel has no account id")
        url = self._graph_url(kind, reply.channel_address)
        if kind == "whatsapp":
            to = recipient.lstrip("+")
            if template:
                body: dict[str, Any] = {
                    "messaging_product": "whatsapp",
                    "recipient_type": "individual",
                    "to": to,
                    "type": "template",
                    "template": {
                        "name": self.settings.whatsapp_template,
                        "language": {"code": self.settings.whatsapp_template_language},
                    },
                }
            else:
                body = {
                    "messaging_product": "whatsapp",
                    "recipient_type": "individual",
                    "to": to,
                    "type": "text",
                    "text": {"preview_url": False, "body": text},
                }
            return url, body
        body = {"recipient": {"id": recipient}, "message": {"text": text}}
        if kind == "messenger":
            body["messaging_type"] = "RESPONSE"
        return url, body

    def deliver(self, reply: OutgoingReply, now: datetime | None = None) -> DeliveryResult:
        kind = reply.channel_kind
        if kind not in SOCIAL_KINDS:
            raise PermanentDeliveryError(f"no social sender for channel kind {kind!r}")
        problem = length_problem(kind, reply.body.strip())
        if problem:
            raise PermanentDeliveryError(problem)
        now = now or reply.at or datetime.now(UTC)
        closed = window_closed(kind, reply.customer_wrote_at, now, self.settings.window_hours)
        template = template_in_place(reply, self.settings, now)
        use_template = bool(template)
        if closed is not None:
            window = (
                f"{PLATFORM[kind]} accepts replies only within {self.settings.window_hours:g} "
                f"hours of the customer's last message, and that window closed at "
                f"{closed:%Y-%m-%d %H:%M} UTC"
            )
            configured = self.settings.whatsapp_template if kind == "whatsapp" else ""
            if configured and reply.template_sent_at is not None:
                when = f"{reply.template_sent_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
                sent = (
                    f"may have gone out to this customer at {when} (no answer to its send was "
                    "recorded: it is still on its way, or its answer was lost)"
                    if reply.template_uncertain
                    else f"was already sent to this customer on {when}"
                )
                raise DeliveryHeld(
                    f"held: {window}. Nothing was sent: a template ({configured!r}) {sent} and "
                    "they have not written back since, so no second one went out; the reply "
                    "goes out if you retry after the customer writes again.",
                    cause=f"{window}, and a template ({configured!r}) {sent} and they have not "
                    "written back since, so no second one went out",
                )
            if not template:
                raise DeliveryHeld(
                    f"held: {window}. Nothing was sent; the reply goes out if you retry after "
                    "the customer writes again."
                    + (
                        " (Or configure an approved template: social.whatsapp_template.)"
                        if kind == "whatsapp"
                        else ""
                    ),
                    cause=window,
                )
        url, body = self.request_for(reply, template=use_template)
        try:
            data = self._post(kind, url, body)
        except UncertainDeliveryError as exc:
            if not use_template:
                raise
            # What may have gone out is the template, not the reply: staff looking for the
            # reply's words on the customer's phone would not find them.
            what, instead = maybe_template(template)
            raise UncertainDeliveryError(
                f"{window}, so the approved template {template!r} was sent in the reply's place "
                f"(the reply itself was not sent), and {exc}",
                what=what,
                instead=instead,
            ) from exc
        external_id = _sent_id(kind, data)
        if not use_template:
            return DeliveryResult(external_id=external_id)
        return DeliveryResult(
            external_id=external_id,
            note=(
                f"held: {window}, so the approved template {template!r} was sent instead, "
                "asking the customer to write again. The reply itself was not sent: it goes out "
                "if you retry after the customer writes again."
            ),
            instead=f"[WhatsApp template {template!r}]",
        )

    def _post(self, kind: str, url: str, body: dict[str, Any]) -> Any:
        platform = PLATFORM[kind]
        headers = {"Authorization": f"Bearer {self._token(kind)}"}
        try:
            response = self.client.post(url, json=body, headers=headers)
        except NEVER_ARRIVED as exc:
            raise TemporaryDeliveryError(f"{platform} send failed: {exc}") from exc
        except httpx.HTTPError as exc:
            why = str(exc) or "no reason given"
            raise UncertainDeliveryError(
                f"{platform}'s answer was lost ({type(exc).__name__}: {why})"
            ) from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise TemporaryDeliveryError(
                f"{platform} answered {response.status_code}: {platform_error(response)}",
                retry_after=retry_after_seconds(response.headers),
            )
        if response.status_code >= 400:
            raise PermanentDeliveryError(
                f"{platform} refused the reply ({response.status_code}): {platform_error(response)}"
            )
        try:
            return response.json()
        except ValueError:
            log.warning("%s accepted the reply but sent no JSON back", platform)
            return {}

    def was_delivered(self, reply: OutgoingReply) -> bool | None:
        """The send APIs cannot be asked about a request whose answer was lost."""
        return None


def _sent_id(kind: str, data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    if kind == "x":
        inner = data.get("data")
        return str(inner.get("dm_event_id") or "") if isinstance(inner, dict) else ""
    if kind == "whatsapp":
        messages = data.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            return str(messages[0].get("id") or "")
        return ""
    return str(data.get("message_id") or "")


class SenderByKind:
    """Email replies to the mail sender, social replies to the platform sender."""

    def __init__(self, email: Sender, social: Sender) -> None:
        self.email = email
        self.social = social

    def _for(self, kind: str) -> Sender:
        return self.social if kind in SOCIAL_KINDS else self.email

    def deliver(self, reply: OutgoingReply) -> DeliveryResult | None:
        return self._for(reply.channel_kind).deliver(reply)

    def was_delivered(self, reply: OutgoingReply) -> bool | None:
        return self._for(reply.channel_kind).was_delivered(reply)
