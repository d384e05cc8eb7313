"""A DM's photo or file, fetched from the platform that holds it.

Messenger, Instagram and X put a link in the webhook; WhatsApp gives a media id, which the
Graph API turns into a link that lives for minutes and needs the access token. Links from the
webhook are followed only to the platforms' own hosts (`[social] media_hosts`) or the
configured API base URLs, and only as far as `[pipeline] max_attachment_bytes`: a forged or
odd link cannot make the worker fetch from anywhere else or fill its memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from responder.channels.social import PLATFORM
from responder.channels.social.senders import access_token, platform_error
from responder.config import SocialSettings

CHUNK = 64 * 1024


class MediaUnavailable(Exception):
    """The platform will not give this file (gone, refused, too large): not asked again."""


class MediaNotYet(Exception):
    """Rate limited, a server error or the network: asked again later."""


@dataclass(frozen=True)
class FetchedMedia:
    content: bytes
    content_type: str


class MediaFetcher:
    def __init__(
        self, settings: SocialSettings, max_bytes: int, client: httpx.Client | None = None
    ) -> None:
        self.settings = settings
        self.max_bytes = max_bytes
        self.client = client or httpx.Client(timeout=settings.timeout_seconds)

    def fetch(self, remote: dict[str, Any]) -> FetchedMedia:
        kind = str(remote.get("platform") or "")
        if kind not in PLATFORM:
            raise MediaUnavailable(f"no platform to fetch it from ({kind or 'none given'})")
        platform = PLATFORM[kind]
        token, variable = access_token(self.settings, kind)
        if kind in ("whatsapp", "x") and not token:
            raise MediaUnavailable(f"no {platform} access token: set {variable}")
        headers = {"Authorization": f"Bearer {token}"} if kind in ("whatsapp", "x") else {}
        url = str(remote.get("url") or "")
        declared = ""
        if remote.get("media_id"):
            url, declared = self._whatsapp_link(str(remote["media_id"]), headers)
        if not url:
            raise MediaUnavailable(f"{platform} gave no link to the file")
        if not self.may_fetch(url):
            raise MediaUnavailable(
                f"the link points outside {platform}'s hosts ([social] media_hosts), so it was "
                "not followed"
            )
        return self._download(platform, url, headers, declared, redirects=3)

    def may_fetch(self, url: str) -> bool:
        try:
            target = httpx.URL(url)
        except httpx.InvalidURL:
            return False
        host = target.host.lower()
        trusted = (self.settings.graph_base_url, self.settings.instagram_base_url,
                   self.settings.x_base_url)  # fmt: skip
        for base in trusted:
            origin = httpx.URL(base)
            if (target.scheme, host, target.port) == (origin.scheme, origin.host, origin.port):
                return True
        return target.scheme == "https" and any(
            host == domain or host.endswith("." + domain)
            for domain in (d.lower().strip(".") for d in self.settings.media_hosts)
        )

    def _whatsapp_link(self, media_id: str, headers: dict[str, str]) -> tuple[str, str]:
        base = self.settings.graph_base_url.rstrip("/")
        url = f"{base}/{self.settings.graph_api_version}/{media_id}"
        try:
            response = self.client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise MediaNotYet(f"WhatsApp could not be reached: {exc}") from exc
        _raise_for_status("WhatsApp", response)
        try:
            data = response.json()
        except ValueError as exc:
            raise MediaNotYet("WhatsApp answered the media lookup without JSON") from exc
        if not isinstance(data, dict) or not isinstance(data.get("url"), str):
            raise MediaUnavailable("WhatsApp's media lookup gave no link")
        return data["url"], str(data.get("mime_type") or "")

    def _download(
        self, platform: str, url: str, headers: dict[str, str], declared: str, redirects: int
    ) -> FetchedMedia:
        too_large = (
            f"larger than [pipeline] max_attachment_bytes ({self.max_bytes:,} bytes): "
            f"open it on {platform}"
        )
        try:
            with self.client.stream("GET", url, headers=headers) as response:
                if response.is_redirect and redirects > 0:
                    target = str(response.url.join(response.headers.get("location", "")))
                    if not self.may_fetch(target):
                        raise MediaUnavailable(
                            f"{platform} sent the link on outside its hosts; it was not followed"
                        )
                    return self._download(platform, target, headers, declared, redirects - 1)
                if response.status_code >= 300:
                    response.read()
                    _raise_for_status(platform, response)
                length = response.headers.get("content-length", "")
                if length.isdigit() and int(length) > self.max_bytes:
                    raise MediaUnavailable(too_large)
                content = bytearray()
                for chunk in response.iter_bytes(CHUNK):
                    content += chunk
                    if len(content) > self.max_bytes:
                        raise MediaUnavailable(too_large)
                served = response.headers.get("content-type", "")
        except httpx.HTTPError as exc:
            raise MediaNotYet(f"{platform} could not be reached: {exc}") from exc
        return FetchedMedia(bytes(content), declared or served or "application/octet-stream")


def _raise_for_status(platform: str, response: httpx.Response) -> None:
    status = response.status_code
    if status == 429 or status >= 500:
        raise MediaNotYet(f"{platform} answered {status}: {platform_error(response)}")
    if status >= 400:
        raise MediaUnavailable(
            f"{platform} no longer gives this file ({status}: {platform_error(response)})"
        )
