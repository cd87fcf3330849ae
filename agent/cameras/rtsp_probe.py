"""A cheap RTSP availability check: one DESCRIBE over TCP (with basic or digest auth), no ffmpeg.

Probing every camera every few seconds by decoding a frame costs an ffmpeg start each time (about
half a second of a core); a DESCRIBE costs a round trip. "Online" means the camera answers the
request with a session description that has a video stream."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import ssl
from urllib.parse import unquote, urlsplit, urlunsplit

from agent.errors import RtspProbeError

_MAX_HEADER = 64 * 1024
_MAX_BODY = 256 * 1024
_AUTH_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - RTSP digest auth is defined on MD5


def authorization(challenge: str, user: str, password: str, method: str, uri: str) -> str:
    """The Authorization header answering a WWW-Authenticate challenge (RFC 2617 as RTSP uses it)."""
    scheme, _, rest = challenge.strip().partition(" ")
    if scheme.lower() == "basic":
        import base64

        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _AUTH_PARAM.finditer(rest)
    }
    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    ha1, ha2 = _md5(f"{user}:{realm}:{password}"), _md5(f"{method}:{uri}")
    fields = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    if "auth" in params.get("qop", "").split(","):
        cnonce, nc = _md5(nonce)[:16], "00000001"
        response = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        fields += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
    else:
        response = _md5(f"{ha1}:{nonce}:{ha2}")
    fields.append(f'response="{response}"')
    if "opaque" in params:
        fields.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(fields)


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, uri: str, cseq: int, auth: str | None
) -> tuple[int, dict[str, str], bytes]:
    request = (
        f"DESCRIBE {uri} RTSP/1.0\r\nCSeq: {cseq}\r\nAccept: application/sdp\r\nUser-Agent: videorec\r\n"
    )
    if auth:
        request += f"Authorization: {auth}\r\n"
    writer.write((request + "\r\n").encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > _MAX_HEADER:
        raise RtspProbeError("RTSP answer too large")
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("RTSP/"):
        raise RtspProbeError("not an RTSP server")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), value.strip())
    length = min(int(headers.get("content-length", "0") or 0), _MAX_BODY)
    body = await reader.readexactly(length) if length else b""
    return int(status_line[1]), headers, body


async def describe(url: str, timeout: float) -> str:  # noqa: ASYNC109 - one deadline for the whole exchange
    """DESCRIBE the stream; returns a short description, raises RtspProbeError when it is not up."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    secure = parts.scheme.lower() == "rtsps"
    port = parts.port or (322 if secure else 554)
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    if ":" in host:
        netloc = f"[{host}]" + (f":{parts.port}" if parts.port else "")
    uri = urlunsplit(parts._replace(netloc=netloc))  # never send the credentials in the URI
    context = ssl.create_default_context() if secure else None

    async def run() -> str:
        try:
            reader, writer = await asyncio.open_connection(host, port, ssl=context)
        except OSError as exc:
            raise RtspProbeError(f"cannot connect: {exc.strerror or type(exc).__name__}") from None
        try:
            status, headers, body = await _exchange(reader, writer, uri, 1, None)
            if status == 401 and user and "www-authenticate" in headers:
                auth = authorization(headers["www-authenticate"], user, password, "DESCRIBE", uri)
                status, headers, body = await _exchange(reader, writer, uri, 2, auth)
            if status == 401:
                raise RtspProbeError("401 unauthorized")
            if status != 200:
                raise RtspProbeError(f"RTSP status {status}")
            if b"m=video" not in body:
                raise RtspProbeError("no video stream in the session description")
            return f"RTSP DESCRIBE ok ({len(body)} bytes of SDP)"
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError) as exc:
            raise RtspProbeError(f"broken RTSP answer: {type(exc).__name__}") from None
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    try:
        async with asyncio.timeout(timeout):
            return await run()
    except TimeoutError:
        raise RtspProbeError(f"no RTSP answer within {timeout:g} s") from None
