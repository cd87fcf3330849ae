"""What a user checks about media: the JPEG decodes, the video plays."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path


def ffprobe_json(path: Path) -> dict:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_jpeg_decodes(data: bytes) -> tuple[int, int]:
    """Decode the JPEG with ffmpeg (not just check its magic bytes); return its size."""
    assert data[:2] == b"\xff\xd8", data[:16]
    with tempfile.NamedTemporaryFile(suffix=".jpg") as f:
        f.write(data)
        f.flush()
        decoded = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", f.name, "-f", "null", "-"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert decoded.returncode == 0 and not decoded.stderr.strip(), decoded.stderr
        stream = ffprobe_json(Path(f.name))["streams"][0]
    assert stream["codec_name"] == "mjpeg"
    return stream["width"], stream["height"]


def split_multipart(body: bytes, boundary: bytes = b"--frame") -> list[bytes]:
    """The JPEG parts of a multipart/x-mixed-replace body."""
    parts = []
    for chunk in body.split(boundary)[1:]:
        head, _, rest = chunk.partition(b"\r\n\r\n")
        if b"image/jpeg" not in head:
            continue
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        parts.append(rest[:length])
    return parts
