"""What every handler reads off a request: the runtime the app was built with, and the staff
member a guard has let through."""

from __future__ import annotations

from litestar import Request

from responder.db.models import StaffUser
from responder.runtime import Runtime


def runtime(request: Request) -> Runtime:
    return request.app.state.rt


def signed_in(request: Request) -> StaffUser:
    """Only behind a `requires_*` guard, which has checked there is one."""
    user = request.user
    assert isinstance(user, StaffUser)
    return user
