"""API keys: created by `pushlift keys create`, stored hashed, checked on every request.

A key is `pl_<id>_<secret>`, with 128 random bits of secret. Only SHA-256 of the whole key
is stored: a fast hash is enough for a random secret of that size (it cannot be guessed
from the hash), unlike a password, which would need a slow, salted one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pushlift import schema
from pushlift.store import Store

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


def create_key(store: Store, name: str, scope: Scope) -> str:
    """A new key (shown once; only its hash is stored)."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    if not name.strip():
        raise ValueError("give the key a name (who or what it is for)")
    key_id = secrets.token_hex(4)
    key = f"pl_{key_id}_{secrets.token_urlsafe(16)}"
    store.append(
        schema.API_KEY,
        {
            "key_id": [key_id],
            "name": [name],
            "scope": [scope],
            "secret_sha256": [_digest(key)],
            "created_at": [datetime.now(UTC)],
            "revoked_at": [None],
        },
    )
    return key


class KeyRing:
    """The valid keys' hashes, loaded once at start (the service owns the store, so keys
    are created before it starts)."""

    def __init__(self, store: Store) -> None:
        rows = store.con.execute(
            "SELECT key_id, scope, secret_sha256 FROM api_key WHERE revoked_at IS NULL"
        ).fetchall()
        self._keys = {str(k): (str(scope), str(digest)) for k, scope, digest in rows}

    def __len__(self) -> int:
        return len(self._keys)

    def scope(self, key: str | None) -> str | None:
        """The scope of a valid key, else None (compared in constant time)."""
        parts = (key or "").split("_", 2)
        if len(parts) != 3 or parts[0] != "pl" or parts[1] not in self._keys:
            return None
        scope, digest = self._keys[parts[1]]
        return scope if hmac.compare_digest(digest, _digest(key or "")) else None


def list_keys(store: Store) -> list[ApiKey]:
    rows = store.con.execute(
        "SELECT key_id, name, scope, epoch_us(created_at), epoch_us(revoked_at) "
        "FROM api_key ORDER BY created_at"
    ).fetchall()

    def when(us: int | None) -> datetime | None:
        return None if us is None else datetime.fromtimestamp(us / 1e6, UTC)

    return [ApiKey(k, n, s, when(c), when(r)) for k, n, s, c, r in rows]  # type: ignore[arg-type]


def revoke_key(store: Store, key_id: str) -> bool:
    """Revoke a key by id; False if there is no such valid key."""
    found = store.con.execute(
        "SELECT count(*) FROM api_key WHERE key_id = ? AND revoked_at IS NULL", [key_id]
    ).fetchall()[0][0]
    if found:
        store.con.execute(
            "UPDATE api_key SET revoked_at = ? WHERE key_id = ?", [datetime.now(UTC), key_id]
        )
    return bool(found)
