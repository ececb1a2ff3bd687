"""API keys: created by `pushlift keys create`, stored hashed, checked on every request.

A key is `pl_<id>_<secret>`, with 128 random bits of secret. Only SHA-256 of the whole key
is stored: a fast hash is enough for a random secret of that size (it cannot be guessed
from the hash), unlike a password, which would need a slow, salted one.

Keys live in the store's operational file (`ops.py`), which any process may open: keys are
created and revoked while the service runs, and it sees the change on the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pushlift import ops

Scope = Literal["write", "read"]
SCOPES: tuple[str, ...] = ("write", "read")


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    scope: str
    created_at: datetime
    revoked_at: datetime | None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(db: str | Path, name: str, scope: Scope) -> str:
    """A new key (shown once; only its hash is stored)."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    if not name.strip():
        raise ValueError("give the key a name (who or what it is for)")
    key_id = secrets.token_hex(4)
    key = f"pl_{key_id}_{secrets.token_urlsafe(16)}"
    con = ops.connect(db)
    try:
        con.execute(
            "INSERT INTO api_key VALUES (?, ?, ?, ?, ?, NULL)",
            [key_id, name, scope, _digest(key), ops.now_us()],
        )
    finally:
        con.close()
    return key


class KeyRing:
    """The valid keys' hashes, reloaded when another process changed the keys: SQLite's data
    version tells, checked at most every `RECHECK_S` (a query per request showed up in the
    hot path's profile), so a new or revoked key counts within that time."""

    RECHECK_S = 0.2

    def __init__(self, db: str | Path) -> None:
        self._con = ops.connect(db)
        self._lock = threading.Lock()
        self._version = -1
        self._checked = 0.0
        self._keys: dict[str, tuple[str, str]] = {}
        self._reload()

    def _reload(self) -> None:
        now = time.monotonic()
        if now - self._checked < self.RECHECK_S:
            return
        with self._lock:
            self._checked = now
            version = self._con.execute("PRAGMA data_version").fetchone()[0]
            if version == self._version:
                return
            rows = self._con.execute(
                "SELECT key_id, scope, secret_sha256 FROM api_key WHERE revoked_at IS NULL"
            ).fetchall()
            self._keys = {str(k): (str(scope), str(digest)) for k, scope, digest in rows}
            self._version = version

    def __len__(self) -> int:
        self._reload()
        return len(self._keys)

    def scope(self, key: str | None) -> str | None:
        """The scope of a valid key, else None (compared in constant time)."""
        self._reload()
        parts = (key or "").split("_", 2)
        found = self._keys.get(parts[1]) if len(parts) == 3 and parts[0] == "pl" else None
        if found is None:
            return None
        scope, digest = found
        return scope if hmac.compare_digest(digest, _digest(key or "")) else None

    def close(self) -> None:
        self._con.close()


def list_keys(db: str | Path) -> list[ApiKey]:
    con = ops.connect(db)
    try:
        rows = con.execute(
            "SELECT key_id, name, scope, created_at, revoked_at FROM api_key ORDER BY created_at"
        ).fetchall()
    finally:
        con.close()

    def when(us: int | None) -> datetime | None:
        return None if us is None else datetime.fromtimestamp(us / 1e6, UTC)

    return [ApiKey(k, n, s, when(c), when(r)) for k, n, s, c, r in rows]  # type: ignore[arg-type]


def revoke_key(db: str | Path, key_id: str) -> bool:
    """Revoke a key by id; False if there is no such valid key."""
    con = ops.connect(db)
    try:
        done = con.execute(
            "UPDATE api_key SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            [ops.now_us(), key_id],
        )
        return done.rowcount > 0
    finally:
        con.close()
