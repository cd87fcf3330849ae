"""Tests for shared.redact: no credential survives into logs or error messages."""

from __future__ import annotations

import pytest

from shared.redact import redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://admin:secret@10.0.0.5/x", "rtsp://admin:***@10.0.0.5/x"),
        ("rtsp://admin:secret@10.0.0.5:554/Streaming/101", "rtsp://admin:***@10.0.0.5:554/Streaming/101"),
        ("rtsps://admin:secret@cam.example", "rtsps://admin:***@cam.example"),
        ("http://admin:s3cr%40t%2F@cam/snap.jpg", "http://admin:***@cam/snap.jpg"),
        # An unencoded "@" or ":" in the password: ffmpeg splits at the last "@".
        ("rtsp://admin:p@ss:w@10.0.0.5/x", "rtsp://admin:***@10.0.0.5/x"),
        ("rtsp://admin:@10.0.0.5/x", "rtsp://admin:***@10.0.0.5/x"),
        ("http://cam/snapshot.cgi?user=admin&pwd=secret", "http://cam/snapshot.cgi?user=admin&pwd=***"),
        ("http://cam/x?token=abc&size=2", "http://cam/x?token=***&size=2"),
        # Nothing to hide.
        ("rtsp://admin@10.0.0.5/x", "rtsp://admin@10.0.0.5/x"),
        ("rtsp://10.0.0.5:554/x", "rtsp://10.0.0.5:554/x"),
        ("/data/rec/a.mp4", "/data/rec/a.mp4"),
        ("", ""),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_url_is_idempotent() -> None:
    once = redact_url("rtsp://admin:secret@10.0.0.5/x")
    assert redact_url(once) == once


@pytest.mark.parametrize(
    "text",
    [
        "[tcp @ 0x55] Connection to tcp://10.0.0.5:554?timeout=0 failed: rtsp://admin:secret@10.0.0.5/x: 401",
        "Input #0, rtsp, from 'rtsp://admin:secret@10.0.0.5/live':",
        'error opening "rtsp://admin:secret@10.0.0.5/live" (code 1)',
        "urls=rtsp://a:secret@h1/x,rtsp://b:secret@h2/y",
        "line one\nrtsp://admin:secret@10.0.0.5/x\tline two",
    ],
)
def test_redact_text_scrubs_urls_in_free_text(text: str) -> None:
    redacted = redact_text(text)
    assert "secret" not in redacted
    assert ":***@" in redacted


def test_redact_text_keeps_the_rest_of_the_line() -> None:
    text = "rtsp://admin:secret@10.0.0.5/live: Server returned 401 Unauthorized"
    assert redact_text(text) == "rtsp://admin:***@10.0.0.5/live: Server returned 401 Unauthorized"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("auth failed for admin with password hunter2", "hunter2"),
        # The configured password, as it appears percent-encoded inside a URL.
        ("GET /x?pw=p%40ss%2Fword HTTP/1.1", "p@ss/word"),
        ("opening p%40ss/word failed", "p@ss/word"),
        ("opening p%40ss%20word failed", "p@ss word"),
        ("value p+ss+word seen", "p ss word"),
        # A configured value that is itself encoded also hides its decoded form.
        ("decoded p@ss here", "p%40ss"),
    ],
)
def test_redact_text_scrubs_given_secrets(text: str, secret: str) -> None:
    redacted = redact_text(text, [secret])
    assert "***" in redacted
    assert secret not in redacted
    for leftover in ("hunter2", "p@ss", "p%40ss", "p+ss+word"):
        assert leftover not in redacted


def test_redact_text_prefers_the_longest_secret() -> None:
    assert redact_text("token abcdef", ["abc", "abcdef"]) == "token ***"


@pytest.mark.parametrize("secret", ["", "a", "ab"])
def test_redact_text_ignores_short_secrets(secret: str) -> None:
    assert redact_text("a cab on a slab", [secret]) == "a cab on a slab"


def test_redact_text_without_credentials_is_unchanged() -> None:
    text = "frame=  250 fps= 25 q=-1.0 size=    1024kB time=00:00:10.00 bitrate= 838.9kbits/s"
    assert redact_text(text, ()) == text


def test_log_lines_of_any_library_lose_their_credentials(caplog):
    import logging

    from shared.logs import RedactingFilter

    logger = logging.getLogger("some.library")
    caplog.handler.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO):
        logger.info("HTTP Request: GET %s", "http://admin:Canary-9@cam.example/snap.jpg?pwd=Canary-9&x=1")
    assert "Canary-9" not in caplog.text
    assert "cam.example/snap.jpg" in caplog.text
