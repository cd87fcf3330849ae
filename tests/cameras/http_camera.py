"""A real HTTP still-image test camera (stdlib only; needs ``ffmpeg`` on PATH to make its frames).

    python tests/cameras/http_camera.py --port 0 --auth digest --user admin --password secret

Once it is listening it prints one JSON line on stdout, e.g.
``{"port": 12345, "url": "http://127.0.0.1:12345/snap.jpg"}``; request logs go to stderr.

* ``GET /snap.jpg`` returns the next of a few distinct JPEG frames (ffmpeg's numbered test pattern),
  behind no auth, HTTP Basic, or HTTP Digest (RFC 7616: MD5, qop="auth", server-issued nonces,
  increasing nonce counts).
* ``GET /stats`` (never authenticated) returns ``{"requests": n, "rejected": m}``: n snapshots served,
  m requests answered 401. Digest clients cost one rejected request per new challenge.
"""

import argparse
import base64
import hashlib
import hmac
import itertools
import json
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REALM = "videorec-test-camera"
NONCE_LIFETIME = 300.0  # seconds; afterwards clients are told stale=true and must re-authenticate

# key=value or key="quoted value" pairs of an Authorization: Digest header
_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def make_frames(count: int, size: str) -> list[bytes]:
    """Render ``count`` distinct JPEGs of ffmpeg's test pattern (it shows a frame counter)."""
    with tempfile.TemporaryDirectory(prefix="http-camera-") as tmp:
        subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc=size={size}:rate=1"]
            + ["-frames:v", str(count), "-q:v", "5", f"{tmp}/frame%03d.jpg"],
            check=True,
            stdin=subprocess.DEVNULL,
        )
        return [p.read_bytes() for p in sorted(Path(tmp).glob("frame*.jpg"))]


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class Camera:
    """State shared by all request threads."""

    def __init__(self, args: argparse.Namespace, frames: list[bytes]) -> None:
        self.args = args
        self.frames = itertools.cycle(frames)
        self.lock = threading.Lock()
        self.served = 0
        self.rejected = 0
        self.nonces: dict[str, tuple[float, int]] = {}  # nonce -> (issued at, last nonce count seen)
        self.opaque = secrets.token_hex(16)

    def next_frame(self) -> bytes:
        with self.lock:
            self.served += 1
            return next(self.frames)

    def challenge(self, stale: bool = False) -> str:
        if self.args.auth == "basic":
            return f'Basic realm="{REALM}", charset="UTF-8"'
        nonce = secrets.token_hex(16)
        with self.lock:
            now = time.monotonic()
            self.nonces = {n: v for n, v in self.nonces.items() if now - v[0] < NONCE_LIFETIME}
            self.nonces[nonce] = (now, 0)
        return (
            f'Digest realm="{REALM}", qop="auth", algorithm=MD5, nonce="{nonce}", '
            f'opaque="{self.opaque}"' + (", stale=true" if stale else "")
        )

    def check(self, header: str | None, method: str, path: str) -> tuple[bool, bool]:
        """Return (authorized, stale) for an Authorization header."""
        if self.args.auth == "none":
            return True, False
        if not header:
            return False, False
        scheme, _, credentials = header.partition(" ")
        if self.args.auth == "basic":
            return scheme.lower() == "basic" and self.check_basic(credentials), False
        if scheme.lower() != "digest":
            return False, False
        return self.check_digest(credentials, method, path)

    def check_basic(self, credentials: str) -> bool:
        try:
            user, _, password = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")
        except ValueError:  # bad base64 or not UTF-8
            return False
        # evaluate both comparisons so timing says nothing about which one failed
        ok_user = hmac.compare_digest(user.encode(), self.args.user.encode())
        ok_password = hmac.compare_digest(password.encode(), self.args.password.encode())
        return ok_user and ok_password

    def check_digest(self, credentials: str, method: str, path: str) -> tuple[bool, bool]:
        p = {m[1].lower(): m[2] if m[2] is not None else m[3] for m in _PARAM.finditer(credentials)}
        if any(k not in p for k in ("username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce")):
            return False, False
        if (
            p["username"] != self.args.user
            or p["realm"] != REALM
            or p["uri"] != path
            or p["qop"] != "auth"
            or p.get("algorithm", "MD5").upper() != "MD5"
            or p.get("opaque", self.opaque) != self.opaque
        ):
            return False, False
        try:
            nc = int(p["nc"], 16)
        except ValueError:
            return False, False
        ha1 = md5(f"{self.args.user}:{REALM}:{self.args.password}")
        ha2 = md5(f"{method}:{p['uri']}")
        expected = md5(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:auth:{ha2}")
        if not hmac.compare_digest(expected, p["response"].lower()):
            return False, False
        with self.lock:
            issued, last_nc = self.nonces.get(p["nonce"], (None, 0))
            if issued is None or time.monotonic() - issued >= NONCE_LIFETIME:
                # right password, unknown or expired nonce: the client may retry at once with a new one
                return False, True
            if nc <= last_nc:  # a replayed request
                return False, False
            self.nonces[p["nonce"]] = (issued, nc)
        return True, False


class Handler(BaseHTTPRequestHandler):
    server: "CameraServer"
    protocol_version = "HTTP/1.1"  # keep-alive, like real cameras (and Digest clients) expect

    def do_GET(self) -> None:
        camera = self.server.camera
        path = self.path.split("?", 1)[0]
        if path == "/stats":
            with camera.lock:
                stats = {"requests": camera.served, "rejected": camera.rejected}
            return self.reply(200, "application/json", json.dumps(stats).encode())
        if path != "/snap.jpg":
            return self.reply(404, "text/plain", b"not found\n")
        authorized, stale = camera.check(self.headers.get("Authorization"), "GET", self.path)
        if not authorized:
            with camera.lock:
                camera.rejected += 1
            challenge = camera.challenge(stale)
            return self.reply(401, "text/plain", b"unauthorized\n", {"WWW-Authenticate": challenge})
        time.sleep(self.server.delay)  # a camera that takes its time to encode a still
        self.reply(200, "image/jpeg", camera.next_frame(), {"Cache-Control": "no-store"})

    def reply(self, status: int, ctype: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class CameraServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], camera: Camera, delay: float = 0.0) -> None:
        self.camera = camera
        self.delay = delay
        super().__init__(address, Handler)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--auth", choices=["none", "basic", "digest"], default="none")
    p.add_argument("--user", default="admin")
    p.add_argument("--password", default="secret")
    p.add_argument("--size", default="320x240", help="frame size, WIDTHxHEIGHT")
    p.add_argument("--frames", type=int, default=10, help="distinct frames to cycle through")
    p.add_argument("--delay", type=float, default=0.0, help="seconds before answering a snapshot")
    return p.parse_args(argv)


def main() -> None:
    args = parse_args()
    camera = Camera(args, make_frames(args.frames, args.size))
    server = CameraServer((args.host, args.port), camera, args.delay)
    # SIGTERM -> SystemExit out of serve_forever(), so the socket is closed cleanly
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = server.server_address[1]
    print(json.dumps({"port": port, "url": f"http://{args.host}:{port}/snap.jpg"}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
