"""`/schema`: the API's endpoints as a page of our own.

Litestar's viewers (Redoc, Swagger, Scalar) load their scripts and fonts from CDNs, which the
pages' Content-Security-Policy refuses (and an installation without internet never reaches), so
`/schema` was blank. This page lists each endpoint with its summary and links the machine-readable
schema (`/schema/openapi.json`) for tools.
"""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import Request
from litestar.openapi.plugins import OpenAPIRenderPlugin

METHODS = ("get", "post", "put", "patch", "delete")
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} API</title>
<style>body{{font:15px/1.45 system-ui,sans-serif;margin:2rem}}
td{{padding:.2rem .8rem;vertical-align:top}} code{{white-space:nowrap}}</style></head>
<body><h1>{title} API {version}</h1>
<p>Send <code>Authorization: Bearer &lt;token&gt;</code> from <code>POST /api/login</code>.
The whole schema, for tools: <a href="{json}">{json}</a>.</p>
<table id="endpoints"><thead><tr><th>Method</th><th>Path</th><th>What it does</th></tr></thead>
<tbody>{rows}</tbody></table></body></html>"""


class EndpointList(OpenAPIRenderPlugin):
    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        rows = []
        for path, item in sorted(openapi_schema.get("paths", {}).items()):
            for method in METHODS:
                operation = item.get(method)
                if operation is None:
                    continue
                said = (operation.get("summary") or operation.get("description") or "").strip()
                first_line = said.split("\n", 1)[0]
                rows.append(
                    f"<tr><td>{method.upper()}</td><td><code>{escape(path)}</code></td>"
                    f"<td>{escape(first_line)}</td></tr>"
                )
        info = openapi_schema.get("info", {})
        return PAGE.format(
            title=escape(info.get("title", "")),
            version=escape(info.get("version", "")),
            json=escape(self.get_openapi_json_route(request)),
            rows="\n".join(rows),
        ).encode()
