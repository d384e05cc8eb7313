"""Hostile input at the JSON API: every route that reads a JSON body, a query or a path
parameter answers what a program can send by hand with a 4xx naming the problem, never a 500
and never a stored row holding what no person typed."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import inspect, select, text

from responder.channels.social.signatures import meta_signature
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, staff
from tests.test_web_security import concrete, csrf, http_routes, login

#: Bodies that are not the JSON object a route reads: broken, another type, numbers JSON
#: itself has no room for (NaN, a 5,000-digit integer) and a float beyond a double.
HOSTILE_BODIES = [
    b"{", b"[]", b'"text"', b"null", b"NaN", b"1e999", b"1" + b"0" * 5000, b'{"a": ' * 2000,
]  # fmt: skip
#: Values for each field of a route's JSON object: wrong types, numbers out of range, digits
#: Python reads as numbers but a person never typed as one, a NUL and a lone surrogate.
HOSTILE_VALUES: list[Any] = [
    "²", "٣", "9" * 5000, 10**30, 2**63, 1.5, True, None, {"nested": {}}, "a\x00b", "\ud800",
]  # fmt: skip
#: A refusal names the field, or the body as a whole when it is not JSON. A lone surrogate,
#: which the decoder calls malformed JSON ("Input data was truncated"), names its field too.
CLEAR_BODY = ("JSON is malformed",)
#: The same for query and path parameters, which arrive as text.
HOSTILE_TEXTS = ["²", "٣", "9" * 5000, "99999999999999999999", "a\x00b"]


def json_routes(app: Litestar) -> list[tuple[str, str, list[str], list[str]]]:
    """Every route of the API (or any route reading a JSON body): method, path, the fields of
    its JSON body and the names of its query parameters."""
    found = []
    for method, path, handler in http_routes(app):
        if path.startswith("/webhooks/") or path.startswith("/schema"):
            continue
        signature = handler.parsed_fn_signature  # type: ignore[attr-defined]
        data = signature.parameters.get("data")
        json_body = data is not None and data.kwarg_definition is None
        if not (path.startswith("/api/") or json_body):
            continue
        fields = list(getattr(data.annotation, "__struct_fields__", ())) if json_body else []
        query = [
            name
            for name in signature.parameters
            if name not in ("request", "data", "state") and f"{{{name}:" not in path
        ]
        found.append((method, path, fields, query))
    return found


def garbage_stored(rt: Runtime) -> list[tuple[str, str]]:
    """Text columns holding a NUL or a lone surrogate: what no person typed."""
    found = []
    with rt.factory() as session:
        tables = inspect(session.get_bind()).get_table_names()
        for table in tables:
            for column in inspect(session.get_bind()).get_columns(table):
                if (
                    "CHAR" not in str(column["type"]).upper()
                    and "TEXT" not in str(column["type"]).upper()
                ):
                    continue
                name = column["name"]
                rows = session.execute(select(text(f'"{name}"')).select_from(text(f'"{table}"')))
                for (value,) in rows:
                    if isinstance(value, str) and ("\x00" in value or "\ud800" in value):
                        found.append((table, name))
    return found


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # the stricter store
def test_no_api_route_answers_hostile_input_with_a_server_error(
    rt: Runtime, worker: Worker
) -> None:
    """A script, a fuzzer or an integration with a bug sends each of these: every answer is a
    4xx (or the route's ordinary answer), with a message naming what is wrong."""
    staff(rt, "ada", "admin")
    drop(rt, make_email(), "hostile api")
    worker.drain()
    app = create_app(rt)
    failed: list[tuple[str, str, str, int]] = []
    unclear: list[tuple[str, str, str]] = []
    with TestClient(app, raise_server_exceptions=False) as client:
        auth = api_token(client, "ada")
        login(client, "ada")
        auth["X-CSRFToken"] = csrf(client)
        for method, path, fields, query in json_routes(app):
            url = concrete(path)
            CLEAR = (*fields, *CLEAR_BODY)
            LONE_SURROGATE_SAID = [f"{name}: text with a lone surrogate" for name in fields]
            for body in HOSTILE_BODIES if fields else []:
                headers = {**auth, "Content-Type": "application/json"}
                answer = client.request(method, url, content=body, headers=headers)
                if answer.status_code >= 500:
                    failed.append((method, path, repr(body[:12]), answer.status_code))
            for value in HOSTILE_VALUES if fields else []:
                payload = json.dumps(dict.fromkeys(fields, value)).encode()
                headers = {**auth, "Content-Type": "application/json"}
                answer = client.request(method, url, content=payload, headers=headers)
                if answer.status_code >= 500:
                    failed.append((method, path, f"{value!r:.12}", answer.status_code))
                said = LONE_SURROGATE_SAID if value == "\ud800" else CLEAR
                if answer.status_code == 400 and not any(n in answer.text for n in said):
                    unclear.append((path, f"{value!r:.12}", answer.text[:80]))
            for value in HOSTILE_TEXTS:
                if query:
                    params = dict.fromkeys(query, value)
                    answer = client.request(method, url, params=params, headers=auth, json={})
                    if answer.status_code >= 500:
                        failed.append((method, path, f"?{value[:12]}", answer.status_code))
                if "{" in path:
                    hostile_path = path.split("{")[0] + quote(value) + path.split("}", 1)[1]
                    answer = client.request(method, concrete(hostile_path), headers=auth, json={})
                    if answer.status_code >= 500:
                        failed.append((method, hostile_path, value[:12], answer.status_code))
    assert not failed, failed
    assert not unclear, unclear
    assert not garbage_stored(rt)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # refused before storage
@pytest.mark.parametrize("path", ["/webhooks/meta", "/webhooks/x"])
def test_hostile_webhook_bodies_without_a_good_signature_are_refused(
    rt: Runtime, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the platform's signature no hostile body gets further than the check: a 4xx."""
    social = rt.settings.social
    monkeypatch.setenv(social.meta_app_secret_env, "s3cret")
    monkeypatch.setenv(social.x_consumer_secret_env, "s3cret")
    signatures = [
        None,
        "",
        ("sha256=" + "²" * 64).encode(),
        "sha256=\x7f",
        meta_signature("other", b"{"),
    ]
    with TestClient(create_app(rt), raise_server_exceptions=False) as client:
        for body in HOSTILE_BODIES:
            for signature in signatures:
                headers = {"Content-Type": "application/json"}
                name = "x-hub-signature-256" if "meta" in path else "x-twitter-webhooks-signature"
                if signature is not None:
                    headers[name] = signature
                answer = client.post(path, content=body, headers=headers)
                assert 400 <= answer.status_code < 500, (body[:12], signature, answer.text)
        for token in HOSTILE_TEXTS:
            answer = client.get(path, params={"crc_token": token, "hub.challenge": token})
            assert answer.status_code < 500, (token, answer.text)
