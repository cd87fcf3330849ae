"""How a versioned list answers: 200 with its body, or 304; both carry the ETag."""

from __future__ import annotations

from fastapi import Response

from controlplane.services.list_cache import Page


def list_answer(page: Page) -> Response:
    # no-cache: a browser or proxy may keep the body but must revalidate it on every read.
    headers = {"ETag": page.etag, "Cache-Control": "no-cache"}
    if page.body is None:
        return Response(status_code=304, headers=headers)
    return Response(page.body, media_type="application/json", headers=headers)
