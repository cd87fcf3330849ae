"""Network helpers for tests."""

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free right now.

    Another process may still take it before the caller binds it; prefer letting a server bind
    port 0 and report its port (the test cameras do) when the server supports that.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
