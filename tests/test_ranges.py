"""Parsing of HTTP byte ranges: the control plane's video endpoint and the agent's media route."""

from __future__ import annotations

import pytest

from shared.ranges import ByteRange, RangeNotSatisfiable, parse_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("bytes=0-99", ByteRange(0, 99)),
        ("bytes=100-", ByteRange(100, 999)),
        ("bytes=-100", ByteRange(900, 999)),
        ("bytes=-5000", ByteRange(0, 999)),
        ("bytes=990-5000", ByteRange(990, 999)),
        ("bytes=0-0", ByteRange(0, 0)),
        ("bytes=5-9,20-29", ByteRange(5, 9)),
        ("items=0-5", None),
        ("bytes=abc", None),
    ],
)
def test_ranges_of_a_1000_byte_file(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=2000-3000", "bytes=-0", "bytes=9-5"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 1000)


def test_content_range_header() -> None:
    assert ByteRange(0, 99).content_range(1000) == "bytes 0-99/1000"
    assert ByteRange(0, 99).length == 100


def test_an_unsatisfiable_range_knows_the_size_for_content_range() -> None:
    with pytest.raises(RangeNotSatisfiable) as raised:
        parse_range("bytes=5000-", 1000)
    assert raised.value.size == 1000
