"""Service metrics: event rate over the last minute and decision latency percentiles."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

RATE_WINDOW_S = 60.0
LATENCY_SAMPLES = 10_000


class Metrics:
    """Thread-safe counters; `snapshot()` is what `/v1/metrics` returns."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._recent: deque[tuple[float, int]] = deque()  # (monotonic time, events)
        self._latency = np.zeros(LATENCY_SAMPLES)  # seconds per request, a ring
        self._seen = 0
        self.events_total = 0
        self.requests_total = 0
        self.duplicates_total = 0
        self.in_flight = 0
        self.started = time.monotonic()

    @contextmanager
    def request(self) -> Iterator[None]:
        """Counts a request as in flight while the block runs."""
        with self._lock:
            self.in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1

    def observe(self, events: int, duplicates: int, seconds: float) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent.append((now, events))
            while self._recent and self._recent[0][0] < now - RATE_WINDOW_S:
                self._recent.popleft()
            self._latency[self._seen % LATENCY_SAMPLES] = seconds
            self._seen += 1
            self.events_total += events
            self.duplicates_total += duplicates
            self.requests_total += 1

    def snapshot(self) -> dict[str, object]:
        now = time.monotonic()
        with self._lock:
            span = min(RATE_WINDOW_S, max(now - self.started, 1e-9))
            recent = sum(n for t, n in self._recent if t >= now - RATE_WINDOW_S)
            samples = self._latency[: min(self._seen, LATENCY_SAMPLES)]
            quantiles = (
                {f"p{q}": float(np.percentile(samples, q)) * 1e3 for q in (50, 99, 99.9)}
                if len(samples)
                else {"p50": None, "p99": None, "p99.9": None}
            )
            return {
                "uptime_s": round(now - self.started, 3),
                "requests_total": self.requests_total,
                "events_total": self.events_total,
                "duplicates_total": self.duplicates_total,
                "requests_in_flight": self.in_flight,
                "events_per_s_last_minute": recent / span,
                "request_latency_ms": quantiles,
                "latency_samples": len(samples),
            }
