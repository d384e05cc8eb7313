"""Staff accounts from the web: admins add, promote, deactivate and reset; supervisors read the
team list (to know who is on it) without the forms; everyone changes their own password. Thin:
`responder.users` holds the rules, this module the forms and the audit.

Every change ends the sessions it must (see `users`), and this process forgets its session cache
at once; other web processes forget on the trigger's NOTIFY (see `session_cache`).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template
from msgspec import Struct

from responder.db.models import StaffUser
from responder.db.session import transaction
from responder.review import audit
from responder.users import (
    ROLES,
    UserError,
    WrongCurrentPassword,
    add_user,
    change_own_password,
    get_user,
    list_users,
    reset_password,
    set_active,
    set_display_name,
    set_role,
)
from responder.web.auth import (
    hash_token,
    requires_admin,
    requires_agent,
    requires_supervisor,
)
from responder.web.login_allowance import give_back, take_attempt
from responder.web.state import runtime as _rt
from responder.web.state import signed_in as _me

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)


def _changed(request: Request) -> None:
    request.app.state.sessions.forget_all()


def _account_row(user: StaffUser, sessions: int) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "active": user.active,
        "open_sessions": sessions,
        "created_at": user.created_at.isoformat(timespec="seconds") + "Z",
    }


def _staff_page(
    request: Request,
    *,
    notice: str = "",
    error: str = "",
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    with _rt(request).factory() as session:
        accounts = list_users(session)
    context = {
        "user": request.user,
        "accounts": accounts,
        "manage": _me(request).role == "admin",
        "roles": ROLES,
        "notice": notice,
        "error": error,
        "form": form or {"role": "agent"},
    }
    return Template("staff.html", context=context, status_code=status_code)


@get("/admin/staff", sync_to_thread=True, guards=[requires_supervisor])
def staff_page(request: Request, notice: FromQuery[str] = "") -> Template:
    return _staff_page(request, notice=notice)


class NewStaffForm(Struct):
    username: str = ""
    display_name: str = ""
    role: str = "agent"
    password: str = ""


def _add(request: Request, data: NewStaffForm) -> StaffUser:
    with transaction(_rt(request).factory) as session:
        user = add_user(session, data.username, data.password, data.role, data.display_name)
        audit(session, _me(request).username, "staff.add", "staff", user.id, role=user.role)
        session.expunge(user)
    return user


@post("/admin/staff/add", sync_to_thread=True, guards=[requires_admin])
def staff_add(request: Request, data: Annotated[NewStaffForm, FORM]) -> Response[Any]:
    try:
        user = _add(request, data)
    except UserError as exc:
        form = {"username": data.username, "display_name": data.display_name, "role": data.role}
        return _staff_page(request, error=f"Not added: {exc}.", form=form, status_code=422)
    notice = f"Added {user.username} ({user.role}): they can log in with the password you set."
    return Redirect("/admin/staff", query_params={"notice": notice})


class StaffChange(Struct):
    """Any of the three; what is left out stays as it is."""

    role: str | None = None
    active: bool | None = None
    password: str | None = None


def _change(request: Request, user_id: int, change: StaffChange) -> str:
    me = _me(request).username
    if change.active is False and user_id == _me(request).id:
        raise UserError("you cannot deactivate your own account")
    done = []
    with transaction(_rt(request).factory) as session:
        user = get_user(session, user_id)
        if change.role is not None and change.role != user.role:
            before = user.role
            set_role(session, user_id, change.role)
            audit(session, me, "staff.role", "staff", user_id, before=before, after=change.role)
            done.append(f"{user.username} is now {change.role}")
        if change.active is not None and change.active != user.active:
            released = set_active(session, user_id, change.active)
            if change.active:
                audit(session, me, "staff.reactivate", "staff", user_id)
                done.append(f"{user.username} can log in again")
            else:
                audit(session, me, "staff.deactivate", "staff", user_id, released=released)
                done.append(f"{user.username} is deactivated and signed out everywhere")
                if released:
                    drafts = "1 assigned draft" if released == 1 else f"{released} assigned drafts"
                    done.append(f"{drafts} went back to the shared queue")
        if change.password is not None:
            reset_password(session, user_id, change.password)
            audit(session, me, "staff.password_reset", "staff", user_id)
            done.append(f"{user.username}'s password is reset and their sessions ended")
    _changed(request)
    return f"Saved: {'; '.join(done)}." if done else "Nothing to change."


class RoleForm(Struct):
    role: str = ""


class ActiveForm(Struct):
    active: str = ""


class PasswordForm(Struct):
    password: str = ""


def _page_change(request: Request, user_id: int, change: StaffChange) -> Response[Any]:
    try:
        notice = _change(request, user_id, change)
    except UserError as exc:
        return _staff_page(request, error=f"Not changed: {exc}.", status_code=422)
    stepped_down = user_id == _me(request).id and change.role not in (None, "admin")
    # An admin who gave up the role may no longer manage accounts here.
    target = "/account" if stepped_down else "/admin/staff"
    return Redirect(target, query_params={"notice": notice})


@post("/admin/staff/{user_id:int}/role", sync_to_thread=True, guards=[requires_admin])
def staff_role(
    request: Request, user_id: FromPath[int], data: Annotated[RoleForm, FORM]
) -> Response[Any]:
    return _page_change(request, user_id, StaffChange(role=data.role))


@post("/admin/staff/{user_id:int}/active", sync_to_thread=True, guards=[requires_admin])
def staff_active(
    request: Request, user_id: FromPath[int], data: Annotated[ActiveForm, FORM]
) -> Response[Any]:
    return _page_change(request, user_id, StaffChange(active=data.active == "yes"))


@post("/admin/staff/{user_id:int}/password", sync_to_thread=True, guards=[requires_admin])
def staff_password(
    request: Request, user_id: FromPath[int], data: Annotated[PasswordForm, FORM]
) -> Response[Any]:
    return _page_change(request, user_id, StaffChange(password=data.password))


@get("/api/admin/staff", sync_to_thread=True, guards=[requires_admin])
def api_staff(request: Request) -> list[dict[str, Any]]:
    with _rt(request).factory() as session:
        return [_account_row(user, n) for user, n in list_users(session)]


def _refused(exc: UserError) -> HTTPException:
    return HTTPException(status_code=exc.status_code, detail=str(exc))


@post("/api/admin/staff", sync_to_thread=True, guards=[requires_admin])
def api_staff_add(request: Request, data: JSONBody[NewStaffForm]) -> dict[str, Any]:
    try:
        user = _add(request, data)
    except UserError as exc:
        raise _refused(exc) from exc
    return _account_row(user, 0)


@post("/api/admin/staff/{user_id:int}", sync_to_thread=True, guards=[requires_admin])
def api_staff_change(
    request: Request, user_id: FromPath[int], data: JSONBody[StaffChange]
) -> dict[str, Any]:
    try:
        _change(request, user_id, data)
    except UserError as exc:
        raise _refused(exc) from exc
    with _rt(request).factory() as session:
        return next(_account_row(u, n) for u, n in list_users(session) if u.id == user_id)


# -- one's own account ---------------------------------------------------------------------------


def _account_page(
    request: Request, *, notice: str = "", error: str = "", status_code: int = 200
) -> Template:
    context = {"user": request.user, "notice": notice, "error": error}
    return Template("account.html", context=context, status_code=status_code)


@get("/account", sync_to_thread=False, guards=[requires_agent])
def account_page(request: Request, notice: FromQuery[str] = "") -> Template:
    return _account_page(request, notice=notice)


class NameForm(Struct):
    display_name: str = ""


@post("/account/name", sync_to_thread=True, guards=[requires_agent])
def account_name(request: Request, data: Annotated[NameForm, FORM]) -> Response[Any]:
    me = _me(request)
    try:
        with transaction(_rt(request).factory) as session:
            user = set_display_name(session, me.id, data.display_name)
            audit(session, me.username, "account.name", "staff", me.id, name=user.display_name)
    except UserError as exc:
        return _account_page(request, error=f"Not changed: {exc}.", status_code=422)
    _changed(request)
    return Redirect("/account", query_params={"notice": "Name changed."})


class OwnPasswordForm(Struct):
    current: str = ""
    new: str = ""
    repeat: str = ""


@post("/account/password", sync_to_thread=True, guards=[requires_agent])
def account_password(request: Request, data: Annotated[OwnPasswordForm, FORM]) -> Response[Any]:
    me = _me(request)
    rt = _rt(request)
    key = f"password|{me.id}"  # the holder's own count, apart from the login form's
    attempt = take_attempt(rt.factory, key, rt.settings.web.login_attempts_per_minute)
    if attempt is None:
        error = "Not changed: too many wrong current passwords: wait a minute."
        return _account_page(request, error=error, status_code=429)
    try:
        if data.new != data.repeat:
            raise UserError("the two new passwords differ")
        kept = hash_token(str(request.auth))
        with transaction(rt.factory) as session:
            change_own_password(session, me.id, data.current, data.new, kept)
            give_back(session, attempt)
            audit(session, me.username, "account.password", "staff", me.id)
    except UserError as exc:
        if not isinstance(exc, WrongCurrentPassword):  # not a wrong guess: no count
            with transaction(rt.factory) as session:
                give_back(session, attempt)
        return _account_page(request, error=f"Not changed: {exc}.", status_code=422)
    _changed(request)
    notice = "Password changed. Your other sessions and API tokens are signed out."
    return Redirect("/account", query_params={"notice": notice})


ROUTES: list[object] = [
    staff_page,
    staff_add,
    staff_role,
    staff_active,
    staff_password,
    api_staff,
    api_staff_add,
    api_staff_change,
    account_page,
    account_name,
    account_password,
]
