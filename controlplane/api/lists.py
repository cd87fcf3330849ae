"""How a versioned list answers: 200 with its body, or 304; both carry the ETag."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from controlplane.list_cache import Page, matches

NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "If-None-Match names the current ETag: the client's copy is current"}
}


def _headers(tag: str) -> dict[str, str]:
    # no-cache: a browser or proxy may keep the body but must revalidate it on every read.
    return {"ETag": tag, "Cache-Control": "no-cache"}


def list_answer(page: Page) -> Response:
    if page.body is None:
        return Response(status_code=304, headers=_headers(page.etag))
    return Response(page.body, media_type="application/json", headers=_headers(page.etag))


def not_modified(tag: str, if_none_match: str | None, response: Response) -> Response | None:
    """A 304 when the client's copy is current; otherwise None, and the 200 to come carries the tag."""
    if matches(if_none_match, tag):
        return Response(status_code=304, headers=_headers(tag))
    response.headers.update(_headers(tag))
    return None
