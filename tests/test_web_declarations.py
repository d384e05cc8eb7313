"""Every handler says where each parameter comes from (path, query string, body), as Litestar
asks: what it infers from a bare name it warns of now and stops doing in Litestar 3."""

from __future__ import annotations

import warnings

from litestar.exceptions import LitestarDeprecationWarning

from responder.runtime import Runtime
from responder.web.app import create_app


def test_building_the_app_warns_of_no_inferred_parameter(rt: Runtime) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LitestarDeprecationWarning)
        create_app(rt)
    assert [str(w.message) for w in caught if w.category is LitestarDeprecationWarning] == []
