"""Webhook bodies in the shapes the platforms document, and signing them as the platforms do."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

META_SECRET = "meta-app-secret-for-tests"
META_VERIFY_TOKEN = "verify-me-please"
X_SECRET = "x-consumer-secret-for-tests"
PAGE_ID = "104512345678901"
IG_ACCOUNT = "17841400000000001"
WA_PHONE_NUMBER_ID = "106540352242922"
WA_BUSINESS_ACCOUNT = "102290129340398"
X_ACCOUNT = "4337869213"
TOKENS = {
    "RESPONDER_MESSENGER_TOKEN": "page-token",
    "RESPONDER_INSTAGRAM_TOKEN": "ig-token",
    "RESPONDER_WHATSAPP_TOKEN": "wa-token",
    "RESPONDER_X_TOKEN": "x-token",
    "RESPONDER_META_APP_SECRET": META_SECRET,
    "RESPONDER_META_VERIFY_TOKEN": META_VERIFY_TOKEN,
    "RESPONDER_X_CONSUMER_SECRET": X_SECRET,
}


def now_ms(hours_ago: float = 0.0) -> int:
    return int((time.time() - hours_ago * 3600) * 1000)


def encode(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def meta_signature(body: bytes, secret: str = META_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def x_signature(body: bytes, secret: str = X_SECRET) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def messenger_message(
    text: str = "My bill doubled this month and nobody can tell me why",
    *,
    psid: str = "6543210987654321",
    mid: str = "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgX",
    hours_ago: float = 0.0,
    attachments: list[dict[str, Any]] | None = None,
    page_id: str = PAGE_ID,
    obj: str = "page",
) -> dict[str, Any]:
    message: dict[str, Any] = {"mid": mid, "text": text}
    if attachments is not None:
        message["attachments"] = attachments
    stamp = now_ms(hours_ago)
    return {
        "object": obj,
        "entry": [
            {
                "id": page_id,
                "time": stamp,
                "messaging": [
                    {
                        "sender": {"id": psid},
                        "recipient": {"id": page_id},
                        "timestamp": stamp,
                        "message": message,
                    }
                ],
            }
        ],
    }


def instagram_message(
    text: str = "Is there an outage in Galway? No signal since this morning",
    *,
    igsid: str = "1254459154682919",
    mid: str = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAxMzY3OTcxMzk2",
    hours_ago: float = 0.0,
) -> dict[str, Any]:
    return messenger_message(
        text, psid=igsid, mid=mid, hours_ago=hours_ago, page_id=IG_ACCOUNT, obj="instagram"
    )


def messenger_echo(mid: str, *, psid: str = "6543210987654321") -> dict[str, Any]:
    stamp = now_ms()
    return {
        "object": "page",
        "entry": [
            {
                "id": PAGE_ID,
                "time": stamp,
                "messaging": [
                    {
                        "sender": {"id": PAGE_ID},
                        "recipient": {"id": psid},
                        "timestamp": stamp,
                        "message": {
                            "is_echo": True,
                            "app_id": 1517776481860111,
                            "mid": mid,
                            "text": "our reply",
                        },
                    }
                ],
            }
        ],
    }


def _messenger_event(event: dict[str, Any], psid: str, page_id: str, obj: str) -> dict[str, Any]:
    stamp = now_ms()
    sent = {"sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": stamp, **event}
    return {"object": obj, "entry": [{"id": page_id, "time": stamp, "messaging": [sent]}]}


def messenger_unsend(
    mid: str, *, psid: str = "6543210987654321", page_id: str = PAGE_ID, obj: str = "page"
) -> dict[str, Any]:
    """The customer unsent (removed for everyone) the message `mid`."""
    return _messenger_event({"message": {"mid": mid, "is_deleted": True}}, psid, page_id, obj)


def messenger_edit(
    mid: str, text: str, *, psid: str = "6543210987654321", num_edit: int = 1
) -> dict[str, Any]:
    """The customer edited the message `mid` (the `message_edits` field)."""
    edit = {"mid": mid, "text": text, "num_edit": num_edit}
    return _messenger_event({"message_edit": edit}, psid, PAGE_ID, "page")


def messenger_delivery(
    mids: list[str] | None, *, psid: str = "6543210987654321", watermark: int | None = None
) -> dict[str, Any]:
    delivery: dict[str, Any] = {"watermark": watermark or now_ms()}
    if mids is not None:
        delivery["mids"] = mids
    return {
        "object": "page",
        "entry": [
            {
                "id": PAGE_ID,
                "time": now_ms(),
                "messaging": [
                    {"sender": {"id": psid}, "recipient": {"id": PAGE_ID}, "delivery": delivery}
                ],
            }
        ],
    }


def messenger_read(*, psid: str = "6543210987654321", watermark: int | None = None) -> dict:
    stamp = now_ms()
    return {
        "object": "page",
        "entry": [
            {
                "id": PAGE_ID,
                "time": stamp,
                "messaging": [
                    {
                        "sender": {"id": psid},
                        "recipient": {"id": PAGE_ID},
                        "timestamp": stamp,
                        "read": {"watermark": watermark or stamp},
                    }
                ],
            }
        ],
    }


def _whatsapp(value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WA_BUSINESS_ACCOUNT,
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": WA_PHONE_NUMBER_ID,
                            },
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def whatsapp_message(
    text: str = "Hi, I was charged 80 euro for roaming in Spain. I thought the EU was included?",
    *,
    wa_id: str = "353855550101",
    name: str = "Aoife",
    wamid: str = "wamid.HBgNMzUzODU1NTUwMTAxFQIAEhggQTRBRDcxQUM0MkE0NUYxMDlFQTU0ODk2NTcxMDYA",
    hours_ago: float = 0.0,
    message_type: str = "text",
    media: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`media`: the body of an image, document, audio or video message (`id`, `mime_type`...)."""
    message: dict[str, Any] = {
        "from": wa_id,
        "id": wamid,
        "timestamp": str(now_ms(hours_ago) // 1000),
        "type": message_type,
    }
    if message_type == "text":
        message["text"] = {"body": text}
    elif message_type == "reaction":
        message["reaction"] = {"message_id": "wamid.earlier", "emoji": "\U0001f44d"}
    elif media is not None:
        message[message_type] = media
    return _whatsapp(
        {"contacts": [{"profile": {"name": name}, "wa_id": wa_id}], "messages": [message]}
    )


def whatsapp_status(
    wamid: str, status: str, *, wa_id: str = "353855550101", errors: list[dict] | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(now_ms() // 1000),
        "recipient_id": wa_id,
    }
    if errors:
        entry["errors"] = errors
    return _whatsapp({"statuses": [entry]})


def whatsapp_echo(wamid: str, text: str, *, to: str = "353855550101") -> dict[str, Any]:
    """A message the business sent from the WhatsApp Business app (`smb_message_echoes`)."""
    payload = _whatsapp(
        {
            "message_echoes": [
                {
                    "from": "15550783881",
                    "to": to,
                    "id": wamid,
                    "timestamp": str(now_ms() // 1000),
                    "type": "text",
                    "text": {"body": text},
                }
            ]
        }
    )
    payload["entry"][0]["changes"][0]["field"] = "smb_message_echoes"
    return payload


def x_dm(
    text: str = "Your network has been down all day in Cork, this is the third time this month",
    *,
    sender_id: str = "3001969357",
    screen_name: str = "aoifem",
    name: str = "Aoife M",
    followers: int = 2210,
    event_id: str = "954491830116155396",
    photo_url: str = "",
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "text": text,
        "entities": {"hashtags": [], "user_mentions": [], "urls": []},
    }
    if photo_url:
        data["attachment"] = {
            "type": "media",
            "media": {"id": 9517, "media_url_https": photo_url, "type": "photo"},
        }
    return {
        "for_user_id": X_ACCOUNT,
        "direct_message_events": [
            {
                "type": "message_create",
                "id": event_id,
                "created_timestamp": str(now_ms()),
                "message_create": {
                    "target": {"recipient_id": X_ACCOUNT},
                    "sender_id": sender_id,
                    "message_data": data,
                },
            }
        ],
        "users": {
            sender_id: {
                "id": sender_id,
                "created_timestamp": "1422556069340",
                "name": name,
                "screen_name": screen_name,
                "location": "Cork",
                "protected": False,
                "verified": False,
                "followers_count": followers,
                "friends_count": 45,
                "statuses_count": 1500,
                "profile_image_url_https": "https://pbs.twimg.com/profile_images/1/a_normal.jpg",
            },
            X_ACCOUNT: {
                "id": X_ACCOUNT,
                "created_timestamp": "1400000000000",
                "name": "Northwind Mobile",
                "screen_name": "northwindmobile",
                "protected": False,
                "verified": True,
                "followers_count": 50000,
                "friends_count": 10,
                "statuses_count": 9000,
                "profile_image_url_https": "https://pbs.twimg.com/profile_images/2/b_normal.jpg",
            },
        },
    }


def x_echo(event_id: str, *, recipient_id: str = "3001969357") -> dict[str, Any]:
    payload = x_dm("our reply", sender_id=X_ACCOUNT, event_id=event_id)
    create = payload["direct_message_events"][0]["message_create"]
    create["target"] = {"recipient_id": recipient_id}
    return payload


def x_read(last_event_id: str, *, reader: str = "3001969357") -> dict[str, Any]:
    return {
        "for_user_id": X_ACCOUNT,
        "direct_message_mark_read_events": [
            {
                "created_timestamp": str(now_ms()),
                "sender_id": reader,
                "target": {"recipient_id": X_ACCOUNT},
                "last_read_event_id": last_event_id,
            }
        ],
        "users": {},
    }


def post_meta(client: Any, payload: Any, *, signature: str | None = "sign") -> Any:
    """POST as Meta does: the raw body, signed with the app secret unless told otherwise."""
    body = payload if isinstance(payload, bytes) else encode(payload)
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        headers["X-Hub-Signature-256"] = meta_signature(body)
    elif signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return client.post("/webhooks/meta", content=body, headers=headers)


def post_x(client: Any, payload: Any, *, signature: str | None = "sign") -> Any:
    body = payload if isinstance(payload, bytes) else encode(payload)
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        headers["x-twitter-webhooks-signature"] = x_signature(body)
    elif signature is not None:
        headers["x-twitter-webhooks-signature"] = signature
    return client.post("/webhooks/x", content=body, headers=headers)
