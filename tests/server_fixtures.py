"""Helpers for tests that run the real command line or server as a subprocess."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx

#: The command line in a new interpreter (what a user runs as ``c2c``).
CLI = [sys.executable, "-c", "import sys; from matcher.cli import main; main(sys.argv[1:])"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 240.0) -> None:
    """Wait until ``url`` answers 200, failing with the server's error output if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"no answer from {url} within {timeout} s")
