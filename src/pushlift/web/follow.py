"""Run the engine on a stream in a background thread while the dashboard answers.

DuckDB lets one process write a file, so live updates come from the engine running in
the dashboard's own process, on its own cursor. NDJSON on stdin is decided in micro-batches
that end when the stream pauses (engine.stream.ndjson_batches).
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pushlift.engine.events import EventBatch
from pushlift.engine.plan import Plan
from pushlift.engine.stream import read_events, read_stdin_batches
from pushlift.errors import PushliftError
from pushlift.store import Store


@dataclass
class FollowStatus:
    source: str
    running: bool = False
    batches: int = 0
    events_read: int = 0
    notifications: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Follower:
    """The engine deciding on `source` ('-' for stdin, or an event file) in a thread."""

    def __init__(self, store: Store, plan: Plan, source: str) -> None:
        self.store, self.plan, self.source = store, plan, source
        self.status = FollowStatus(source=source)
        self._thread = threading.Thread(target=self._run, name="pushlift-follow", daemon=True)

    def batches(self) -> Iterator[EventBatch]:
        if self.source == "-":
            yield from read_stdin_batches()
        else:
            yield read_events(Path(self.source))

    def start(self) -> None:
        self.status.running = True
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        from pushlift.engine.runner import RunSummary, run

        def progress(s: RunSummary) -> None:
            self.status.batches += 1
            self.status.events_read = s.events_read
            self.status.notifications = s.outcomes["delivered"] + s.outcomes["held_out"]

        try:
            run(self.store, self.plan, self.batches(), progress=progress)
        except (PushliftError, ValueError) as e:
            self.status.error = str(e)
        except Exception:  # shown on the dashboard rather than lost in a thread
            self.status.error = traceback.format_exc(limit=3)
        finally:
            self.status.running = False
