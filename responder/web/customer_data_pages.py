"""Customer data page and API: supervisors import the CRM and billing exports that
`responder import` takes, from the browser. An upload is previewed first (a dry run: counts and
the rows that would be skipped, nothing changed), kept, and imported when confirmed, without
uploading it again; tiers are recomputed and the import audited as the CLI's is, and the linked
senders' waiting drafts queued for the workers to write again (the request does not wait for
them). The rules
are the importer's (`responder.customers.importer`); keeping an upload is
`responder.customers.uploads`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from anyio import to_thread
from litestar import Request, Response, Router, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import HTTPException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)
from litestar.openapi.spec import OpenAPIMediaType as MediaType
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from responder.config import Settings
from responder.customers.importer import KINDS, ImportFileError, ImportSummary, expected_columns
from responder.customers.uploads import (
    UploadError,
    keep,
    outcome,
    put_back,
    run_import,
    safe_name,
    take,
    too_large,
    upload_limit,
    waiting,
)
from responder.db.session import transaction
from responder.web.auth import requires_supervisor
from responder.web.state import runtime, signed_in

PAGE = "/supervisor/customer-data"
#: Room for the form's other fields and the multipart framing around the file.
FRAMING = 64 * 1024


@dataclass
class Upload:
    kind: str
    filename: str
    content: bytes
    dry_run: bool = True


async def _read(request: Request) -> Upload:
    """The multipart form: `kind`, `file` and (API) `dry_run`."""
    form = await request.form()
    item = form.get("file")
    if not isinstance(item, UploadFile) or not item.filename:
        raise UploadError("choose a CSV file to upload")
    dry_run = str(form.get("dry_run") or "true").strip().lower() not in ("false", "0", "no")
    return Upload(str(form.get("kind") or ""), safe_name(item.filename), await item.read(), dry_run)


def _columns(request: Request) -> dict[str, list[tuple[str, str, bool]]]:
    settings = runtime(request).settings
    return {kind: expected_columns(settings, kind) for kind in KINDS}


def _page(
    request: Request,
    *,
    error: str = "",
    notice: str = "",
    kind: str = "customers",
    preview: dict[str, Any] | None = None,
    token: str = "",
    result: dict[str, Any] | None = None,
    kept: str = "",
    status_code: int = 200,
) -> Template:
    """`kept`: the token of an upload whose import was refused and which still waits, linked
    back to its preview."""
    context = {
        "user": request.scope.get("user"),
        "kinds": KINDS,
        "columns": _columns(request),
        "chosen": kind if kind in KINDS else "customers",
        "error": error,
        "notice": notice,
        "preview": preview,
        "token": token,
        "result": result,
        "kept": kept,
        "limit_mb": runtime(request).settings.customers.max_upload_mb,
    }
    return Template("supervisor/customer_data.html", context=context, status_code=status_code)


def _preview(request: Request, upload: Upload) -> str:
    """Dry-run the upload and keep it; the token of the kept upload."""
    rt = runtime(request)
    user = signed_in(request).username
    summary = run_import(
        rt.factory, rt.settings, upload.kind, upload.filename, upload.content, user, dry_run=True
    )
    with transaction(rt.factory) as session:
        return keep(session, upload.kind, upload.filename, upload.content, user, outcome(summary))


@get(PAGE, sync_to_thread=True, guards=[requires_supervisor])
def customer_data_page(
    request: Request, kind: FromQuery[str] = "customers", notice: FromQuery[str] = ""
) -> Template:
    return _page(request, kind=kind, notice=notice)


@post(PAGE, guards=[requires_supervisor])
async def upload_form(request: Request) -> Template | Redirect:
    """Check and preview the upload; nothing on file changes until it is confirmed."""
    kind = ""
    try:
        upload = await _read(request)
        kind = upload.kind
        token = await to_thread.run_sync(_preview, request, upload)
    except (UploadError, ImportFileError) as exc:
        return _page(request, error=f"Not imported: {exc}.", kind=kind, status_code=400)
    return Redirect(f"{PAGE}/{token}")


@get(f"{PAGE}/{{token:str}}", sync_to_thread=True, guards=[requires_supervisor])
def preview_page(request: Request, token: FromPath[str]) -> Template:
    with runtime(request).factory() as session:
        kept = waiting(session, token, signed_in(request).username)
        if kept is None:
            return _gone(request)
        return _page(request, kind=kept.kind, preview=kept.preview, token=token)


def _gone(request: Request) -> Template:
    return _page(
        request,
        error="That upload is no longer waiting: it was imported or dropped, or it is more than "
        "a day old. Upload the file again.",
        status_code=404,
    )


@post(f"{PAGE}/{{token:str}}/import", sync_to_thread=True, guards=[requires_supervisor])
def confirm_form(request: Request, token: FromPath[str]) -> Template:
    """Import the kept upload: the counts, the first skipped rows, tiers recomputed. The
    status is the API's (`api_status`), so a script driving the form sees a partial import."""
    rt = runtime(request)
    user = signed_in(request).username
    with transaction(rt.factory) as session:
        kept = take(session, token, user)
        if kept is None:
            return _gone(request)
        kind, filename, content = kept.kind, kept.filename, kept.content
    # Taken before the import, which writes in its own transactions, so that a second click
    # finds nothing; put back should the import fail, so it is not uploaded again.
    try:
        summary = run_import(rt.factory, rt.settings, kind, filename, content, user, dry_run=False)
    except (UploadError, ImportFileError) as exc:  # the header was changed in the config since
        with transaction(rt.factory) as session:
            put_back(session, kept)
        error = f"Not imported: {exc}."
        return _page(request, error=error, kind=kind, kept=token, status_code=400)
    except Exception:
        with transaction(rt.factory) as session:
            put_back(session, kept)
        raise
    status = api_status(summary, dry_run=False)
    return _page(request, kind=kind, result=outcome(summary), status_code=status)


@post(f"{PAGE}/{{token:str}}/drop", sync_to_thread=True, guards=[requires_supervisor])
def drop_form(request: Request, token: FromPath[str]) -> Redirect:
    with transaction(runtime(request).factory) as session:
        kept = take(session, token, signed_in(request).username)
        notice = f"Dropped {kept.filename}: nothing was imported." if kept else ""
    return Redirect(PAGE, query_params={"notice": notice} if notice else None)


def too_large_page(request: Request, exc: RequestEntityTooLarge) -> Response[Any]:
    """Litestar refuses a body over the route's limit before the handler runs: say so in words."""
    detail = too_large(upload_limit(runtime(request).settings), request.content_length)
    if request.url.path.startswith("/api/"):
        return Response({"status_code": 413, "detail": detail}, status_code=413)
    return _page(request, error=f"Not imported: {detail}.", status_code=413)


@dataclass
class CsvUpload(Operation):
    """The handler reads its multipart form itself, so the schema at /schema is told here."""

    def __post_init__(self) -> None:
        body = Schema(
            type=OpenAPIType.OBJECT,
            properties={
                "kind": Schema(type=OpenAPIType.STRING, enum=list(KINDS)),
                "file": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY),
                "dry_run": Schema(
                    type=OpenAPIType.BOOLEAN,
                    description="true (the default): count, change nothing",
                ),
            },
            required=["kind", "file"],
        )
        self.request_body = RequestBody(
            content={"multipart/form-data": MediaType(schema=body)},
            required=True,
            description="A CSV export, UTF-8, up to `[customers] max_upload_mb` MB.",
        )
        same = {"application/json": MediaType(schema=Schema(type=OpenAPIType.OBJECT))}
        self.responses = {
            **(self.responses or {}),
            "422": OpenAPIResponse(
                description="The import stopped part-way (`stopped`); the same body as 200",
                content=same,
            ),
            "500": OpenAPIResponse(
                description="The rows are imported but the audit entry (and tiers) could not "
                "be written (`audit_failed`); the same body as 200",
                content=same,
            ),
        }


@get(f"/api{PAGE}", sync_to_thread=True, guards=[requires_supervisor])
def api_columns(request: Request) -> dict[str, list[dict[str, Any]]]:
    """Per kind, the columns the importer reads (`[import_columns]`) and which are required."""
    return {
        kind: [{"column": c, "field": f, "required": r} for c, f, r in columns]
        for kind, columns in _columns(request).items()
    }


def api_status(summary: ImportSummary, dry_run: bool) -> int:
    """200 when the import did all it was asked (a preview that finds where the import would
    stop did); 422 when it stopped part-way; 500 when its rows are in but its audit entry is
    not. A client checking only the status learns the file was not imported as a whole."""
    if summary.audit_failed:
        return 500
    return 422 if summary.stopped and not dry_run else 200


@post(
    f"/api{PAGE}",
    guards=[requires_supervisor],
    operation_class=CsvUpload,
    status_code=200,
)
async def api_import(request: Request) -> Response[dict[str, Any]]:
    """Multipart `kind`, `file` and `dry_run` (true unless "false"): the counts and the first
    skipped rows; with `dry_run` false the rows are imported, tiers recomputed and it is audited.
    The same body whatever the status (`api_status`)."""
    try:
        upload = await _read(request)
        rt = runtime(request)
        user = signed_in(request).username
        summary = await to_thread.run_sync(
            lambda: run_import(
                rt.factory,
                rt.settings,
                upload.kind,
                upload.filename,
                upload.content,
                user,
                dry_run=upload.dry_run,
            )
        )
    except (UploadError, ImportFileError) as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    return Response(
        {**outcome(summary), "dry_run": upload.dry_run},
        status_code=api_status(summary, upload.dry_run),
    )


def customer_data_router(settings: Settings) -> Router:
    """The page and API, with the request body limit `[customers] max_upload_mb` sets (and
    the form around the file): Litestar refuses a larger body before reading it."""
    limit = upload_limit(settings) + FRAMING
    return Router(path="/", route_handlers=ROUTES, request_max_body_size=limit)


ROUTES: list[object] = [
    customer_data_page,
    upload_form,
    preview_page,
    confirm_form,
    drop_form,
    api_columns,
    api_import,
]
