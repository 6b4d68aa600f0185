"""Submitting /ui forms from a TestClient the way a browser does: with the page's ``csrf_token`` and an ``Origin``.

Every POST under /ui is refused without both (issue #15); tests that drive the review page over plain HTTP use
these instead of posting bare form data.
"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from httpx import Response

__all__ = ["origin", "csrf_token", "login", "submit"]

_TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')


def origin(client: TestClient) -> dict[str, str]:
    """The ``Origin`` header a browser sends with a form posted from one of the client's own pages."""
    return {"Origin": f"{client.base_url.scheme}://{client.base_url.netloc.decode('ascii')}"}


def csrf_token(client: TestClient, page: str) -> str | None:
    """The ``csrf_token`` of the first form on ``page`` (None if it has none)."""
    found = _TOKEN.search(client.get(page).text)
    return found.group(1) if found else None


def login(client: TestClient, key: str, **kwargs) -> Response:  # noqa: ANN003
    """Log in through the login form; the client keeps the session cookie."""
    token = csrf_token(client, "/ui/login")
    data = {"api_key": key} | ({"csrf_token": token} if token is not None else {})
    return client.post("/ui/login", data=data, headers=origin(client), **kwargs)


def submit(client: TestClient, page: str, action: str, data: dict, **kwargs) -> Response:  # noqa: ANN003
    """Post ``data`` to ``action`` as a form on ``page`` would: with that page's token, from the same origin."""
    token = csrf_token(client, page)
    data = data | ({"csrf_token": token} if token is not None else {})
    return client.post(action, data=data, headers=origin(client), **kwargs)
