"""The end-to-end tests' shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from videorec_testing.cameras import RtspCamera, start_rtsp_camera


@pytest.fixture(scope="module")
def camera() -> Iterator[RtspCamera]:
    """The test pattern over RTSP, one camera for a module's tests. A module that needs another
    camera (credentials, a bitrate, an address) defines its own `camera`, which wins."""
    with start_rtsp_camera() as cam:
        yield cam
