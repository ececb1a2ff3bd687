"""A real `pushlift dashboard` process for tests: free port, health wait, clean stop."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

PUSHLIFT = Path(sys.executable).with_name("pushlift")
# The dashboard tests drive Debian's Chromium (`python3 dev.py test` installs it).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pushlift(*args: str | Path) -> str:
    """Run a pushlift command; fail with its output if it fails; returns its stdout."""
    done = subprocess.run(
        [str(PUSHLIFT), *map(str, args)], capture_output=True, text=True, timeout=600
    )
    if done.returncode:
        raise AssertionError(f"pushlift {' '.join(map(str, args))}: {done.stderr}{done.stdout}")
    return done.stdout


def wait_for(condition, timeout: float = 60.0, every: float = 0.1, what: str = "condition"):
    """Poll `condition()` until it returns something truthy; returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


class Dashboard:
    """`pushlift dashboard --db DB --port FREE --no-open [extra]` in a subprocess."""

    def __init__(self, db: Path, *extra: str | Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        cmd = [PUSHLIFT, "dashboard", "--db", db, "--port", str(self.port), "--no-open", *extra]
        self.proc = subprocess.Popen(
            [str(c) for c in cmd],
            stdin=subprocess.PIPE,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.client = httpx.Client(base_url=self.url, timeout=120)
        wait_for(self._healthy, timeout=90, what=f"the dashboard to start (log: {log})")

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the dashboard exited: {self.log.read_text()}")
        try:
            return self.client.get("/api/health").json() == {"ok": True}
        except httpx.HTTPError:
            return False

    def get(self, path: str) -> dict:
        response = self.client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text[:500])
        return response.json()

    def send(self, lines: list[str]) -> None:
        """Write NDJSON lines to the dashboard's stdin (the engine's stream)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("".join(line + "\n" for line in lines).encode())
        self.proc.stdin.flush()

    def stop(self) -> None:
        self.client.close()
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=20)
