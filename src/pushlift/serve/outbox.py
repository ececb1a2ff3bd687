"""Outgoing notifications: a cursor-ordered feed (long-poll and server-sent events) and a
webhook sink with retries.

Delivered notifications are read back from the store in ingest order; a cursor is
`<ingest time in µs>:<notification id>`, so a client that reconnects with its last cursor
misses nothing and gets nothing twice. The webhook sender posts batches in that order and
records each acknowledged (2xx) batch in `webhook_delivery`, so after a restart it resumes
after the last acknowledged notification. Delivery is at least once: a crash between the
sink's answer and the record resends that batch; `notification_id` is the idempotency key.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from pushlift import schema
from pushlift.serve import journal, notes
from pushlift.store import Store

FEED_LIMIT = 500

_AFTER = (
    notes.SELECT
    + """
WHERE delivered AND (epoch_us(ingest_time) > ? OR (epoch_us(ingest_time) = ?
      AND notification_id > ?))
ORDER BY ingest_time, notification_id
LIMIT ?
"""
)


def parse_cursor(cursor: str | None) -> tuple[int, int]:
    """'<µs>:<id>' -> (µs, id); None or '' is the start. A bad cursor is a ValueError."""
    if not cursor:
        return (-1, -1)
    try:
        t, n = cursor.split(":")
        return int(t), int(n)
    except ValueError:
        raise ValueError(f"bad cursor {cursor!r}: expected '<microseconds>:<id>'") from None


class Feed:
    """Delivered notifications after a cursor, with waiting for new ones: from the store,
    and from the service's journal (`journal_file`) for those not loaded yet."""

    def __init__(self, store: Store, journal_file: Path | None = None) -> None:
        self.store, self.journal_file = store, journal_file
        self._changed = threading.Condition()
        self._generation = 0

    def publish(self) -> None:
        """Called by the service each time new notifications are durable."""
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def after(self, cursor: str | None, limit: int = FEED_LIMIT) -> tuple[list[dict], str]:
        t, n = parse_cursor(cursor)
        con = self.store.cursor().con  # this thread's own handle on the store
        try:
            rows = con.execute(_AFTER, [t, t, n, limit]).fetchall()
        finally:
            con.close()
        found = {r[0]: notes.as_dict(r) for r in rows}
        if self.journal_file is not None:
            # A row is pruned from the journal only after the store holds it: none is missed.
            found |= {
                r["event_id"]: notes.from_journal(r) for r in self._journal_after(t, n, limit)
            }
        ordered = sorted(found.values(), key=lambda x: parse_cursor(x["cursor"]))[:limit]
        return ordered, (ordered[-1]["cursor"] if ordered else (cursor or ""))

    def _journal_after(self, t: int, n: int, limit: int) -> list[dict[str, Any]]:
        """Delivered notifications in the journal after the cursor (`t`, `n`), in order."""
        con = journal.connect(self.journal_file)
        try:
            groups = journal.groups_since(con, t)
        finally:
            con.close()
        found = [
            note
            for group in groups
            for note in group.notifications()
            if note["delivered"] and (note["ingest_time"], note["event_id"]) > (t, n)
        ]
        return sorted(found, key=lambda x: (x["ingest_time"], x["event_id"]))[:limit]

    def wait(self, cursor: str | None, timeout: float) -> tuple[list[dict], str]:
        """Like `after`, but waits up to `timeout` seconds for something new."""
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                generation = self._generation
            found, nxt = self.after(cursor)
            left = deadline - time.monotonic()
            if found or left <= 0:
                return found, nxt
            with self._changed:
                if self._generation == generation:
                    self._changed.wait(left)


class WebhookSender:
    """Posts delivered notifications to `url` in order, retrying until acknowledged."""

    def __init__(self, store: Store, feed: Feed, url: str, batch_size: int = 100) -> None:
        self.store, self.feed, self.url, self.batch_size = store, feed, url, batch_size
        self.stop = threading.Event()
        self.attempts_failed = 0
        self.pending = 0
        self._thread = threading.Thread(target=self._loop, daemon=True, name="pushlift-webhook")

    def start(self) -> None:
        self._thread.start()

    def close(self, drain_s: float = 5.0) -> None:
        """Stop after what is pending is sent, waiting at most `drain_s` seconds."""
        deadline = time.monotonic() + drain_s
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.05)
        self.stop.set()
        self._thread.join(timeout=drain_s)

    def _resume_cursor(self) -> str:
        con = self.store.cursor().con
        try:
            rows = con.execute(
                "SELECT epoch_us(n.ingest_time), n.notification_id FROM webhook_delivery w "
                "JOIN notification n USING (notification_id) WHERE w.url = ? "
                "ORDER BY n.ingest_time DESC, n.notification_id DESC LIMIT 1",
                [self.url],
            ).fetchall()
            if rows:
                return f"{rows[0][0]}:{rows[0][1]}"
            # A new sink starts with what is delivered from now on, not the store's history.
            start = con.execute(
                "SELECT coalesce(max(epoch_us(ingest_time)), -1) FROM notification"
            ).fetchall()[0][0]
            return f"{start}:{2**62}"
        finally:
            con.close()

    def _loop(self) -> None:
        cursor = self._resume_cursor()
        with httpx.Client(timeout=10.0) as client:
            while not self.stop.is_set():
                batch, _ = self.feed.wait(cursor, timeout=1.0)
                self.pending = len(batch)
                if not batch:
                    continue
                batch = batch[: self.batch_size]
                attempts = self._send(client, batch)
                if attempts is None:
                    return  # stopped while retrying
                self._acknowledge(batch, attempts)
                cursor = batch[-1]["cursor"]
                self.pending = 0

    def _send(self, client: httpx.Client, notes: list[dict]) -> int | None:
        body = json.dumps({"notifications": notes})
        delay, attempts = 0.2, 0
        while not self.stop.is_set():
            attempts += 1
            try:
                answer = client.post(
                    self.url, content=body, headers={"content-type": "application/json"}
                )
                if 200 <= answer.status_code < 300:
                    return attempts
            except httpx.HTTPError:
                pass
            self.attempts_failed += 1
            self.stop.wait(delay)
            delay = min(delay * 2, 30.0)
        return None

    def _acknowledge(self, notes: list[dict], attempts: int) -> None:
        store = self.store.cursor()
        try:
            store.append(
                schema.WEBHOOK_DELIVERY,
                {
                    "notification_id": [n["notification_id"] for n in notes],
                    "url": [self.url] * len(notes),
                    "attempts": [attempts] * len(notes),
                    "acknowledged_at": [datetime.now(UTC)] * len(notes),
                },
            )
        finally:
            store.close()
