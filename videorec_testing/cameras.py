"""Start the real test cameras in ``tests/cameras`` as subprocesses.

    with start_rtsp_camera(user="admin", password="secret") as cam:
        run_ffmpeg(cam.url_with_credentials)

    cam = start_http_camera(auth="digest")
    httpx.get(cam.url, auth=cam.httpx_auth())
    cam.stop()

Each camera binds a free port itself and reports it, so there is no race for ports; ``restart()``
brings it back on the same port for "camera goes away and comes back" tests.
"""

import functools
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self
from urllib.parse import quote

import httpx

from agent.files.layout import has_fragment
from videorec_testing.wait import wait_until

CAMERAS_DIR = Path(__file__).resolve().parent.parent / "tests" / "cameras"
# The RTSP camera needs GStreamer's introspection bindings, which only Debian's interpreter has.
DEBIAN_PYTHON = "/usr/bin/python3"
GST_APT_PACKAGES = (
    "python3-gi python3-gst-1.0 gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-plugins-base "
    "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-x"
)
# every element the camera's pipeline uses (h264parse is in -bad, x264enc in -ugly, timeoverlay in -x)
GST_ELEMENTS = ("videotestsrc", "timeoverlay", "valve", "videoconvert", "x264enc", "h264parse", "rtph264pay")
READY_TIMEOUT = 15.0


class CameraError(RuntimeError):
    """A test camera could not be started."""


@functools.cache
def ensure_debian_python_gi() -> None:
    """Raise CameraError, naming the apt packages to install, if the RTSP camera cannot run."""
    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
        "gi.require_version('GstVideo', '1.0'); "
        "from gi.repository import Gst, GstRtspServer, GstVideo; Gst.init(None); "
        f"missing = [e for e in {GST_ELEMENTS!r} if not Gst.ElementFactory.find(e)]; "
        "assert not missing, f'missing GStreamer elements: {missing}'"
    )
    try:
        result = subprocess.run(
            [DEBIAN_PYTHON, "-c", probe], capture_output=True, text=True, timeout=30, check=False
        )
    except FileNotFoundError:
        raise CameraError(f"{DEBIAN_PYTHON} not found; the RTSP test camera needs Debian's python3") from None
    if result.returncode != 0:
        raise CameraError(
            f"{DEBIAN_PYTHON} cannot run the GStreamer RTSP server:\n{result.stderr.strip()}\n"
            f"Install: apt-get install -y {GST_APT_PACKAGES}"
        )


@dataclass(eq=False)
class CameraProcess:
    """One running camera: ``url``, ``port``, ``proc``; ``stop()``, ``restart()``; a context manager."""

    argv: list[str]  # the command line, without --port
    log_path: Path  # the camera's stderr, kept across restarts
    ready_timeout: float = READY_TIMEOUT
    port: int = 0
    url: str = ""
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    owns_log: bool = field(default=False, repr=False)  # delete the log on stop()

    def start(self) -> Self:
        """Start the process on ``self.port`` (0 = any) and wait for its ready line."""
        assert not self.running, "camera is already running"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [*self.argv, "--port", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,  # Ctrl-C in the terminal goes to pytest, not the camera
            )
        line = self._read_ready_line()
        try:
            ready = json.loads(line)
            self.port, self.url = int(ready["port"]), ready["url"]
        except (ValueError, KeyError, TypeError):
            try:  # after EOF on stdout the process may not have been reaped yet
                exit_code: int | None = self.proc.wait(1)
            except subprocess.TimeoutExpired:
                exit_code = None
            self._terminate()
            problem = (
                f"did not become ready within {self.ready_timeout:g}s"
                if exit_code is None
                else f"exited with code {exit_code}"
            )
            raise CameraError(
                f"{Path(self.argv[1]).name} {problem} (stdout: {line!r}).\n"
                f"Its log, {self.log_path}:\n{self.log()}"
            ) from None
        return self

    def _read_ready_line(self) -> str:
        """Return the first stdout line, or what was read by EOF or the deadline."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + self.ready_timeout
        data = b""
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in data:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    break  # timed out
                chunk = os.read(fd, 4096)
                if not chunk:
                    break  # EOF: the camera exited
                data += chunk
        return data.decode(errors="replace").split("\n", 1)[0]

    def _terminate(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def stop(self) -> None:
        """Terminate the camera (SIGTERM, then SIGKILL after 5 s). Safe to call twice."""
        self._terminate()
        if self.owns_log:
            self.log_path.unlink(missing_ok=True)

    def restart(self) -> Self:
        """Stop the camera if it runs and start it again on the same port.

        The port came from the ephemeral range, so while it is free another process's outgoing
        connection may take it for a moment (seen with parallel test workers): try again briefly."""
        self._terminate()
        deadline = time.monotonic() + 10
        while True:
            try:
                return self.start()
            except CameraError as exc:
                if "cannot listen" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.25)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@dataclass(eq=False)
class RtspCamera(CameraProcess):
    user: str | None = None
    password: str = ""

    def playing(self) -> int:
        """RTSP sessions playing now: every client that played and has not left."""
        text = self.log()
        return text.count("rtsp_camera: play") - text.count("rtsp_camera: stopped")

    @property
    def url_with_credentials(self) -> str:
        """``url`` with ``user:password@`` in it (just ``url`` when the camera has no auth)."""
        if self.user is None:
            return self.url
        scheme, rest = self.url.split("://", 1)
        return f"{scheme}://{quote(self.user, safe='')}:{quote(self.password, safe='')}@{rest}"

    def stall(self) -> None:
        """Keep sessions open but stop sending video; returns once the camera has done it."""
        self._signal_and_wait(signal.SIGUSR1, "rtsp_camera: stalled")

    def resume(self) -> None:
        self._signal_and_wait(signal.SIGUSR2, "rtsp_camera: resumed")

    def _signal_and_wait(self, signum: int, log_line: str, timeout: float = 5.0) -> None:
        assert self.proc is not None, "camera is not running"
        before = self.log().count(log_line)
        self.proc.send_signal(signum)
        try:
            wait_until(lambda: self.log().count(log_line) > before, timeout, interval=0.02, what=log_line)
        except AssertionError:
            raise CameraError(f"camera did not log {log_line!r} within {timeout}s:\n{self.log()}") from None


@dataclass(eq=False)
class HttpCamera(CameraProcess):
    auth: str = "none"
    user: str = ""
    password: str = ""

    def httpx_auth(self) -> httpx.Auth | None:
        """The httpx auth object for this camera's credentials and scheme."""
        if self.auth == "basic":
            return httpx.BasicAuth(self.user, self.password)
        if self.auth == "digest":
            return httpx.DigestAuth(self.user, self.password)
        return None

    def stats(self) -> dict[str, int]:
        """``{"requests": snapshots served, "rejected": 401 answers}`` since the (re)start."""
        return httpx.get(self.url.rsplit("/", 1)[0] + "/stats", timeout=5).json()


def _log_file(name: str, log_dir: Path | None) -> tuple[Path, bool]:
    """A log path for a camera and whether the helper owns (and so deletes) it."""
    if log_dir is not None:
        fd, path = tempfile.mkstemp(prefix=f"{name}-", suffix=".log", dir=log_dir)
        os.close(fd)
        return Path(path), False
    fd, path = tempfile.mkstemp(prefix=f"videorec-{name}-", suffix=".log")
    os.close(fd)
    return Path(path), True


def start_rtsp_camera(
    *,
    port: int = 0,
    path: str = "/stream",
    width: int = 640,
    height: int = 360,
    fps: int = 15,
    bitrate: int = 800,
    pattern: str = "smpte",
    overlay: bool = True,
    user: str | None = None,
    password: str = "",
    auth_method: str = "basic",
    stall_after: float | None = None,
    ready_timeout: float = READY_TIMEOUT,
    log_dir: Path | None = None,
    host: str | None = None,
    audio: str | None = None,
    sprop: bool = True,
    keyframe_interval: float = 1.0,
    bframes: int = 0,
) -> RtspCamera:
    """Start the GStreamer RTSP camera (H.264, one shared encoder) and wait until it serves.

    ``host``: the address it listens on and names in its URL (127.0.0.1 unless given).

    ``user`` turns on RTSP authentication (``auth_method`` "basic" or "digest"); ``stall_after``
    stops the video that many seconds after start-up (see also ``RtspCamera.stall()``). ``audio``
    ("pcmu" or "aac") adds an audio track; ``sprop=False`` leaves the H.264 parameter sets out of the
    SDP (they come only in band, before each keyframe).
    """
    ensure_debian_python_gi()
    argv = [DEBIAN_PYTHON, str(CAMERAS_DIR / "rtsp_camera.py"), "--path", path]
    argv += ["--width", str(width), "--height", str(height), "--fps", str(fps)]
    argv += ["--bitrate", str(bitrate), "--pattern", pattern]
    if not overlay:
        argv.append("--no-overlay")
    if user is not None:
        argv += ["--user", user, "--password", password, "--auth-method", auth_method]
    if stall_after is not None:
        argv += ["--stall-after", str(stall_after)]
    if host is not None:
        argv += ["--host", host]
    if audio is not None:
        argv += ["--audio", audio]
    if not sprop:
        argv.append("--no-sprop")
    argv += ["--keyframe-interval", str(keyframe_interval), "--bframes", str(bframes)]
    log_path, owns_log = _log_file("rtsp-camera", log_dir)
    camera = RtspCamera(
        argv, log_path, ready_timeout, port=port, owns_log=owns_log, user=user, password=password
    )
    return camera.start()


def start_http_camera(
    *,
    port: int = 0,
    auth: str = "none",
    user: str = "admin",
    password: str = "secret",
    size: str = "320x240",
    frames: int = 10,
    delay: float = 0.0,
    ready_timeout: float = READY_TIMEOUT,
    log_dir: Path | None = None,
) -> HttpCamera:
    """Start the HTTP snapshot camera (``auth``: "none", "basic" or "digest") and wait until it serves."""
    argv = [sys.executable, str(CAMERAS_DIR / "http_camera.py"), "--auth", auth]
    argv += ["--user", user, "--password", password, "--size", size, "--frames", str(frames)]
    argv += ["--delay", str(delay)]
    log_path, owns_log = _log_file("http-camera", log_dir)
    camera = HttpCamera(
        argv, log_path, ready_timeout, port=port, owns_log=owns_log, auth=auth, user=user, password=password
    )
    return camera.start()


class Viewer:
    """A client already watching an RTSP camera, so that the next one joins its shared stream between
    two keyframes, as with a real camera, instead of at a fresh encoder's first keyframe.

    It is an ffmpeg copying the video into fragmented MP4, one fragment per keyframe, each written
    when the next keyframe arrives: the file grows exactly when a keyframe comes."""

    def __init__(self, url: str, directory: Path) -> None:
        self.output = directory / f"viewer-{os.getpid()}-{time.monotonic_ns()}.mp4"
        argv = ["ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", url]
        argv += ["-map", "0:v", "-c", "copy", "-f", "mov", "-movflags", "+frag_keyframe+empty_moov"]
        self.proc = subprocess.Popen(
            [*argv, "-flush_packets", "1", str(self.output)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def size(self) -> int:
        try:
            return self.output.stat().st_size
        except FileNotFoundError:
            return 0

    def after_keyframe(self, timeout: float = 15.0) -> None:
        """Return just after a keyframe reached the viewer: the next is a keyframe interval away."""
        # Not from the header on: it may reach the file in more than one write.
        wait_until(lambda: has_fragment(self.output), timeout, interval=0.01, what="the viewer's video")
        before = self.size()
        wait_until(lambda: self.size() > before, timeout, interval=0.01, what="a keyframe at the viewer")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.output.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
