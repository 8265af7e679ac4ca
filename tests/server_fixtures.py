"""Helpers for tests that run the real command line or server as a subprocess."""

from __future__ import annotations

import os
import signal
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


def stop_server(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Stop a server as a user's Ctrl-C does (SIGINT), killing it if it has not ended in ``timeout`` s."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def connection_owners(port: int) -> dict[int, int]:
    """Established TCP connections to local ``port`` (IPv4), counted by the process that holds each
    (read from /proc: which server worker took which connection)."""
    inodes = set()
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        fields = line.split()
        local_port, state, inode = int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]
        if local_port == port and state == "01":  # 01: ESTABLISHED
            inodes.add(f"socket:[{inode}]")
    owners: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            links = [os.readlink(f"/proc/{entry}/fd/{fd}") for fd in os.listdir(f"/proc/{entry}/fd")]
        except OSError:
            continue
        held = sum(link in inodes for link in links)
        if held:
            owners[int(entry)] = held
    return owners
