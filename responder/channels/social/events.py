"""Webhook bodies to plain records, and a stored event to the fields a message needs.

Plain functions over the JSON the platforms document:
- Messenger (`object: page`) and Instagram (`object: instagram`): `entry[].messaging[]` with
  `sender`, `recipient`, `timestamp` and one of `message` (`mid`, `text`, `attachments`,
  `is_echo`, `is_deleted`), `message_edit` (`mid`, `text`, `num_edit`), `delivery` (`mids`,
  `watermark`) or `read` (`watermark`, or `mid` on Instagram);
- WhatsApp Cloud API (`object: whatsapp_business_account`): `entry[].changes[].value` with
  `metadata.phone_number_id`, `contacts[]` (`wa_id`, `profile.name`), `messages[]` (`from`, `id`,
  `timestamp`, `type`, `text.body`, ...) and `statuses[]` (`id`, `status`, `errors[]`);
- X Account Activity: `for_user_id`, `direct_message_events[]` (`message_create` with
  `sender_id`, `target.recipient_id`, `message_data.text`), `direct_message_mark_read_events[]`
  and `users{}` (`screen_name`, `name`, `followers_count`).
Each customer message is kept as its own small JSON document (the event plus the context it
needs, such as the sender's X profile), so parsing it later needs nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from responder.customers.identity import normalise_phone

META_OBJECTS = {"page": "messenger", "instagram": "instagram"}
RECEIPT_STATUSES = ("sent", "delivered", "read", "failed")
#: Why a message the customer unsent (Messenger, Instagram) gets no answer.
DELETED_REASON = "the customer deleted this message"
#: What stands in for its words, where they were shown.
DELETED_TEXT = "[deleted by the customer]"
#: WhatsApp message types that carry nothing to answer.
WHATSAPP_SKIP = {"reaction": "a reaction to an earlier message", "system": "a system notice"}


class PayloadError(ValueError):
    """The body is not a shape the platform documents; answered with 400, raw kept."""


@dataclass(frozen=True)
class InboundDM:
    """A customer's message: becomes one row in the work queue."""

    kind: str
    account_id: str
    external_key: str
    document: dict[str, Any]


@dataclass(frozen=True)
class Receipt:
    """What the platform says about a message we sent: echo (sent), delivered, read, failed.

    An echo also carries what was sent (`text`, `sent_at`, the event as `document`): one our
    outbox did not send was written outside Responder (the platform's own app)."""

    kind: str
    account_id: str
    status: str
    external_ids: tuple[str, ...] = ()
    recipient_id: str = ""
    watermark: datetime | None = None
    error: str = ""
    text: str = ""
    sent_at: datetime | None = None
    document: dict[str, Any] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Change:
    """The customer took back (unsent) or edited a message sent earlier, named by its id:
    `text` is the edited text; None for a message deleted."""

    kind: str
    account_id: str
    external_key: str
    text: str | None = None

    @property
    def deleted(self) -> bool:
        return self.text is None


@dataclass
class Split:
    messages: list[InboundDM] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MediaRef:
    """A file in a DM and where the platform keeps it: a link (Messenger, Instagram, X) or a
    WhatsApp media id, which the Graph API turns into a short-lived link. Nothing to fetch for a
    location or a share."""

    kind: str
    url: str = ""
    media_id: str = ""
    mime_type: str = ""
    filename: str = ""


@dataclass(frozen=True)
class DMFields:
    platform_id: str
    handle: str
    display_name: str
    followers: int | None
    text: str
    thread_key: str
    sent_at: datetime | None
    attachments: tuple[MediaRef, ...] = ()
    phone: str = ""
    skip_reason: str = ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError(f"{what} is not a list")
    return value


def _id(value: Any) -> str:
    raw = _dict(value).get("id")
    return str(raw) if isinstance(raw, str | int) and not isinstance(raw, bool) else ""


def from_millis(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def from_seconds(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


# -- Meta ----------------------------------------------------------------------------------------


def split_meta(body: Any) -> Split:
    if not isinstance(body, dict):
        raise PayloadError("the body is not a JSON object")
    if "entry" not in body:
        raise PayloadError("no entry list")
    obj = body.get("object")
    entries = _list(body.get("entry"), "entry")
    split = Split()
    if obj == "whatsapp_business_account":
        for entry in entries:
            _whatsapp_entry(_dict(entry), split)
        return split
    kind = META_OBJECTS.get(obj) if isinstance(obj, str) else None
    if kind is None:
        raise PayloadError(f"unknown object {obj!r}")
    for entry in map(_dict, entries):
        account = _id(entry)
        if not account:
            split.ignored.append(f"{kind} entry without an id")
            continue
        for event in _list(entry.get("messaging"), "entry.messaging"):
            _meta_messaging(kind, account, _dict(event), split)
        for name in sorted(set(entry) - {"id", "time", "messaging"}):
            split.ignored.append(f"{kind} entry field {name!r} is not handled")
    return split


def _meta_messaging(kind: str, account: str, event: dict[str, Any], split: Split) -> None:
    sender, recipient = _id(event.get("sender")), _id(event.get("recipient"))
    if "message" in event:
        message = _dict(event["message"])
        mid = message.get("mid")
        if not isinstance(mid, str) or not mid:
            split.ignored.append(f"{kind} message without a mid")
        elif message.get("is_echo"):
            split.receipts.append(
                Receipt(
                    kind,
                    account,
                    "sent",
                    (mid,),
                    recipient_id=recipient,
                    text=_shown(_text(message.get("text")), _meta_media(message)),
                    sent_at=from_millis(event.get("timestamp")),
                    document={"platform": kind, "account_id": account, "event": event},
                )
            )
        elif message.get("is_deleted"):
            split.changes.append(Change(kind, account, mid))
        elif not sender:
            split.ignored.append(f"{kind} message {mid} without a sender id")
        else:
            document = {"platform": kind, "account_id": account, "event": event}
            split.messages.append(InboundDM(kind, account, mid, document))
    elif "message_edit" in event:
        edit = _dict(event["message_edit"])
        mid, text = edit.get("mid"), edit.get("text")
        if not isinstance(mid, str) or not mid or not isinstance(text, str):
            split.ignored.append(f"{kind} message edit without a mid or text")
        else:
            split.changes.append(Change(kind, account, mid, text))
    elif "delivery" in event or "read" in event:
        status = "delivered" if "delivery" in event else "read"
        detail = _dict(event.get("delivery") if "delivery" in event else event.get("read"))
        mids = [m for m in _list(detail.get("mids"), "mids") if isinstance(m, str)]
        if isinstance(detail.get("mid"), str):
            mids.append(detail["mid"])
        split.receipts.append(
            Receipt(
                kind,
                account,
                status,
                tuple(mids),
                recipient_id=sender,
                watermark=from_millis(detail.get("watermark")),
            )
        )
    else:
        keys = sorted(set(event) - {"sender", "recipient", "timestamp"})
        split.ignored.append(f"{kind} event {keys} is not handled")


def _whatsapp_entry(entry: dict[str, Any], split: Split) -> None:
    for change in map(_dict, _list(entry.get("changes"), "entry.changes")):
        if change.get("field") not in ("messages", "smb_message_echoes"):
            split.ignored.append(f"whatsapp change field {change.get('field')!r} is not handled")
            continue
        value = _dict(change.get("value"))
        metadata = _dict(value.get("metadata"))
        account = str(metadata.get("phone_number_id") or "")
        if not account:
            split.ignored.append("whatsapp change without metadata.phone_number_id")
            continue
        for echo in map(_dict, _list(value.get("message_echoes"), "message_echoes")):
            _whatsapp_echo(account, echo, metadata, split)
        contacts = {
            str(c.get("wa_id")): c for c in map(_dict, _list(value.get("contacts"), "contacts"))
        }
        for message in map(_dict, _list(value.get("messages"), "messages")):
            wamid, sender = message.get("id"), message.get("from")
            if not isinstance(wamid, str) or not wamid or not isinstance(sender, str) or not sender:
                split.ignored.append("whatsapp message without id or from")
                continue
            document = {
                "platform": "whatsapp",
                "account_id": account,
                "event": message,
                "contact": contacts.get(sender, {}),
                "metadata": metadata,
            }
            split.messages.append(InboundDM("whatsapp", account, wamid, document))
        for status in map(_dict, _list(value.get("statuses"), "statuses")):
            wamid, state = status.get("id"), status.get("status")
            if not isinstance(wamid, str) or state not in RECEIPT_STATUSES:
                split.ignored.append(f"whatsapp status {state!r} is not handled")
                continue
            split.receipts.append(
                Receipt(
                    "whatsapp",
                    account,
                    str(state),
                    (wamid,),
                    recipient_id=str(status.get("recipient_id") or ""),
                    error=_whatsapp_errors(status.get("errors")),
                )
            )


def _whatsapp_echo(
    account: str, echo: dict[str, Any], metadata: dict[str, Any], split: Split
) -> None:
    """A message the business sent from the WhatsApp Business app (`smb_message_echoes`)."""
    wamid, to = echo.get("id"), echo.get("to")
    if not isinstance(wamid, str) or not wamid or not isinstance(to, str) or not to:
        split.ignored.append("whatsapp message echo without id or to")
        return
    text, attachments = _whatsapp_text(echo)
    split.receipts.append(
        Receipt(
            "whatsapp",
            account,
            "sent",
            (wamid,),
            recipient_id=to.lstrip("+"),
            text=_shown(text, attachments),
            sent_at=from_seconds(echo.get("timestamp")),
            document={
                "platform": "whatsapp",
                "account_id": account,
                "event": echo,
                "metadata": metadata,
            },
        )
    )


def _whatsapp_errors(errors: Any) -> str:
    parts = []
    for error in map(_dict, errors if isinstance(errors, list) else []):
        detail = _dict(error.get("error_data")).get("details") or error.get("message") or ""
        title = error.get("title") or ""
        parts.append(" ".join(str(p) for p in (error.get("code", ""), title, detail) if p))
    return "; ".join(parts)


# -- X -------------------------------------------------------------------------------------------


def split_x(body: Any) -> Split:
    if not isinstance(body, dict):
        raise PayloadError("the body is not a JSON object")
    account = str(body.get("for_user_id") or "")
    if not account:
        raise PayloadError("no for_user_id")
    users = _dict(body.get("users"))
    split = Split()
    for event in map(_dict, _list(body.get("direct_message_events"), "direct_message_events")):
        _x_message(account, event, users, split)
    reads = _list(body.get("direct_message_mark_read_events"), "direct_message_mark_read_events")
    for event in map(_dict, reads):
        split.receipts.append(
            Receipt(
                "x",
                account,
                "read",
                (str(event.get("last_read_event_id") or ""),),
                recipient_id=str(event.get("sender_id") or ""),
                watermark=from_millis(event.get("created_timestamp")),
            )
        )
    for name in sorted(
        set(body)
        - {"for_user_id", "users", "apps", "direct_message_events"}
        - {"direct_message_mark_read_events", "direct_message_indicate_typing_events"}
    ):
        split.ignored.append(f"x {name} are not handled")
    return split


def _x_message(account: str, event: dict[str, Any], users: dict[str, Any], split: Split) -> None:
    if event.get("type") != "message_create":
        split.ignored.append(f"x direct message event of type {event.get('type')!r}")
        return
    create = _dict(event.get("message_create"))
    event_id, sender = str(event.get("id") or ""), str(create.get("sender_id") or "")
    recipient = str(_dict(create.get("target")).get("recipient_id") or "")
    if not event_id or not sender:
        split.ignored.append("x direct message without id or sender_id")
    elif sender == account:
        data = _dict(create.get("message_data"))
        attachment = _dict(data.get("attachment"))
        split.receipts.append(
            Receipt(
                "x",
                account,
                "sent",
                (event_id,),
                recipient_id=recipient,
                text=_shown(_text(data.get("text")), (_x_media(attachment),) if attachment else ()),
                sent_at=from_millis(event.get("created_timestamp")),
                document={"platform": "x", "account_id": account, "event": event},
            )
        )
    else:
        document = {
            "platform": "x",
            "account_id": account,
            "event": event,
            "user": _dict(users.get(sender)),
        }
        split.messages.append(InboundDM("x", account, event_id, document))


# -- one stored message --------------------------------------------------------------------------


def dm_fields(document: Any) -> DMFields:
    """The fields of one stored customer message; PayloadError when they are not there."""
    if not isinstance(document, dict):
        raise PayloadError("the stored event is not a JSON object")
    platform, account = document.get("platform"), str(document.get("account_id") or "")
    event = _dict(document.get("event"))
    if platform in META_OBJECTS.values():
        return _meta_fields(account, event)
    if platform == "whatsapp":
        return _whatsapp_fields(account, event, _dict(document.get("contact")))
    if platform == "x":
        return _x_fields(account, event, _dict(document.get("user")))
    raise PayloadError(f"unknown platform {platform!r}")


def _meta_fields(account: str, event: dict[str, Any]) -> DMFields:
    sender = _id(event.get("sender"))
    message = _dict(event.get("message"))
    if not sender:
        raise PayloadError("no sender id")
    attachments = _meta_media(message)
    text = message.get("text") if isinstance(message.get("text"), str) else ""
    if message.get("is_deleted"):  # unsent: its words and files were taken out of the copy
        text, attachments = "", ()
    return DMFields(
        platform_id=sender,
        handle="",
        display_name="",
        followers=None,
        text=text,
        thread_key=thread_key("messenger", account, sender),
        sent_at=from_millis(event.get("timestamp")),
        attachments=attachments,
        skip_reason=DELETED_REASON if message.get("is_deleted") else "",
    )


def thread_key(kind: str, account: str, customer: str) -> str:
    """One conversation per customer and account: X's own conversation id (the two user ids,
    the smaller first), else the account and the customer's id."""
    if kind == "x":
        return "-".join(sorted((customer, account), key=lambda v: (len(v), v)))
    return f"{account}:{customer}"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _shown(text: str, attachments: tuple[MediaRef, ...]) -> str:
    """The words of a message, or its files named ("[image]") when it has none."""
    return text or " ".join(f"[{media.kind}]" for media in attachments)


def _meta_media(message: dict[str, Any]) -> tuple[MediaRef, ...]:
    items = [_dict(a) for a in _list(message.get("attachments"), "attachments")]
    return tuple(
        MediaRef(str(a.get("type") or "file"), url=_text(_dict(a.get("payload")).get("url")))
        for a in items
    )


def _whatsapp_text(message: dict[str, Any]) -> tuple[str, tuple[MediaRef, ...]]:
    kind = str(message.get("type") or "")
    body = _dict(message.get(kind))
    if kind == "text":
        return str(body.get("body") or ""), ()
    if kind == "button":
        return str(body.get("text") or ""), ()
    if kind == "interactive":
        reply = _dict(body.get("button_reply")) or _dict(body.get("list_reply"))
        return str(reply.get("title") or ""), ()
    if kind == "location":
        place = " ".join(str(body.get(k) or "") for k in ("name", "address")).strip()
        return place, (MediaRef(kind),)
    media = MediaRef(
        kind,
        media_id=_text(body.get("id")),
        mime_type=_text(body.get("mime_type")),
        filename=_text(body.get("filename")),
    )
    return str(body.get("caption") or ""), (media,) if kind else ()


def _whatsapp_fields(account: str, message: dict[str, Any], contact: dict[str, Any]) -> DMFields:
    sender = str(message.get("from") or "")
    if not sender:
        raise PayloadError("no from")
    text, attachments = _whatsapp_text(message)
    kind = str(message.get("type") or "")
    skip = WHATSAPP_SKIP.get(kind, "")
    if kind == "unsupported":
        skip = "a message type WhatsApp does not pass on"
    return DMFields(
        platform_id=sender,
        handle="",
        display_name=str(_dict(contact.get("profile")).get("name") or ""),
        followers=None,
        text=text,
        thread_key=thread_key("whatsapp", account, sender),
        sent_at=from_seconds(message.get("timestamp")),
        attachments=attachments,
        phone=normalise_phone("+" + sender.lstrip("+")) or "",
        skip_reason=skip,
    )


def _x_fields(account: str, event: dict[str, Any], user: dict[str, Any]) -> DMFields:
    create = _dict(event.get("message_create"))
    sender = str(create.get("sender_id") or "")
    if not sender:
        raise PayloadError("no sender_id")
    data = _dict(create.get("message_data"))
    attachment = _dict(data.get("attachment"))
    followers = user.get("followers_count")
    return DMFields(
        platform_id=sender,
        handle=str(user.get("screen_name") or ""),
        display_name=str(user.get("name") or ""),
        followers=followers if isinstance(followers, int) and followers >= 0 else None,
        text=str(data.get("text") or ""),
        thread_key=thread_key("x", account, sender),
        sent_at=from_millis(event.get("created_timestamp")),
        attachments=(_x_media(attachment),) if attachment else (),
    )


def _x_media(attachment: dict[str, Any]) -> MediaRef:
    media = _dict(attachment.get("media"))
    return MediaRef(
        str(media.get("type") or attachment.get("type") or "media"),
        url=_text(media.get("media_url_https")),
    )
