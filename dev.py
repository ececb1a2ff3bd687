#!/usr/bin/env python3
"""Set up and run pushlift on a fresh machine: `python3 dev.py demo` or `python3 dev.py test`.

Creates `.venv/` beside this file, installs the package with the pinned versions in
`constraints.txt`, then runs the demo or the whole test suite. Only Python >= 3.11 and
access to PyPI are needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"


def run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT)


def ensure_env(extras: str) -> None:
    """Create the virtual environment and install the package (once per set of inputs)."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on the system Python
        sys.exit(f"pushlift needs Python >= 3.11; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    inputs = (ROOT / "pyproject.toml").read_text() + (ROOT / "constraints.txt").read_text()
    want = f"{extras}\n{inputs}"
    if STAMP.exists() and STAMP.read_text() == want:
        return
    run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    target = f".[{extras}]" if extras else "."
    run(BIN / "python", "-m", "pip", "install", "--quiet", "-c", "constraints.txt", "-e", target)
    STAMP.write_text(want)


CHROMIUM = Path("/usr/bin/chromium")


def ensure_chromium() -> None:
    """Install the system Chromium the dashboard tests drive (Debian's package).

    Playwright's own browser downloads are never used: only package registries are reachable."""
    if CHROMIUM.exists():
        return
    if os.name != "posix" or os.geteuid() != 0:
        sys.exit(
            f"the dashboard tests need {CHROMIUM}; install it as root with "
            "`apt-get update && apt-get install -y chromium`, then rerun"
        )
    print(f"{CHROMIUM} is missing: installing Debian's chromium for the web tests", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    for cmd in (["apt-get", "update"], install):
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, env=env)


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    rest = sys.argv[2:]
    if what == "demo":
        ensure_env("")
        run(BIN / "pushlift", "demo", *rest)
    elif what == "test":
        ensure_env("test")
        ensure_chromium()
        run(BIN / "ruff", "check", ".")
        run(BIN / "python", "-m", "pytest", "-n", "auto", *rest)
    else:
        sys.exit("usage: python3 dev.py demo [options] | python3 dev.py test [pytest options]")


if __name__ == "__main__":
    main()
