"""The engine as a service: decide posted events, durably, once per event id.

One lock serializes decisions (the engine's state is sequential by nature). A request's
events are decided and written in one transaction (shared with the requests waiting at the
same moment: group commit) before the response is sent, so an acknowledged event is in
the store. An event id seen before is not decided again: the
response carries the notification stored for it the first time, if any. After a crash the
engine's state is rebuilt from the store, like `pushlift run` does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pushlift.engine.config import EngineConfig
from pushlift.engine.engine import OUTCOMES
from pushlift.engine.events import EventBatch
from pushlift.engine.plan import Plan
from pushlift.engine.runner import Processor
from pushlift.serve import config_versions, notes
from pushlift.serve.metrics import Metrics
from pushlift.store import Store

Listener = Callable[[list[dict[str, Any]]], None]


@dataclass
class _Request:
    batch: EventBatch
    results: list[dict[str, Any]] | None = None
    error: Exception | None = None


class DecisionService:
    def __init__(
        self, store: Store, config: EngineConfig, change: str, allowed_lateness_us: int = 0
    ) -> None:
        self.store = store.cursor()  # the engine's own connection: others read on theirs
        self.allowed_lateness_us = allowed_lateness_us
        self._waiting: list[_Request] = []
        self._waiting_lock = threading.Lock()
        self.lock = threading.Lock()
        self.metrics = Metrics()
        self.listeners: list[Listener] = []
        self._use(config, change)

    def _use(self, config: EngineConfig, change: str) -> None:
        self.version = config_versions.apply(self.store, config, change)
        self.config = config
        self.processor = Processor(self.store, Plan(config), self.allowed_lateness_us)

    def reconfigure(self, config: EngineConfig, change: str) -> int:
        """Decide with `config` from now on (state rebuilt from the store); its version."""
        with self.lock:
            self._use(config, change)
            return self.version

    def submit(self, batch: EventBatch) -> list[dict[str, Any]]:
        """Decide and store `batch` (in event-time order); one result per event, in order.

        Group commit: requests that arrive while a decision is running wait for the lock
        together, and the first to get it decides all of them in one transaction, so
        concurrent clients share one commit instead of queueing for one each."""
        started = time.perf_counter()
        request = _Request(batch)
        with self.metrics.request():
            with self._waiting_lock:
                self._waiting.append(request)
            with self.lock:
                if request.results is None and request.error is None:
                    self._decide_waiting()
        if request.error is not None:
            raise request.error
        assert request.results is not None
        duplicates = sum(r["outcome"] == "duplicate" for r in request.results)
        self.metrics.observe(len(batch), duplicates, time.perf_counter() - started)
        return request.results

    def _decide_waiting(self) -> None:
        """Decide every waiting request in one micro-batch (the caller holds the lock)."""
        with self._waiting_lock:
            group, self._waiting = self._waiting, []
        try:
            merged = EventBatch.concat([r.batch for r in group])
            order = np.argsort(merged.time_us, kind="stable")
            results = self._decide(merged.take(order))
        except Exception as e:  # every request of the group gets the error
            for r in group:
                r.error = e
            return
        in_merged: list[dict[str, Any]] = [{}] * len(merged)
        for k, i in enumerate(order.tolist()):
            in_merged[i] = results[k]
        start = 0
        for r in group:
            r.results = in_merged[start : start + len(r.batch)]
            start += len(r.batch)

    def _decide(self, batch: EventBatch) -> list[dict[str, Any]]:
        done = self.processor.process(batch)
        # New notifications come from the decisions; only duplicates are looked up.
        stored = notes.from_decisions(done)
        if (~done.fresh).any():
            stored |= self._stored_notifications(batch.event_id[~done.fresh])
        outcome = np.full(len(batch), -1, dtype=np.int16)
        outcome[done.fresh] = done.decisions.outcome
        results, delivered = [], []
        for i, event_id in enumerate(batch.event_id.tolist()):
            note = stored.get(event_id)
            fresh = bool(done.fresh[i])
            results.append(
                {
                    "event_id": event_id,
                    "outcome": OUTCOMES[outcome[i]] if fresh else "duplicate",
                    "notification": note,
                }
            )
            if fresh and note is not None and note["delivered"]:
                delivered.append(note)
        if delivered:
            for listener in list(self.listeners):
                listener(delivered)
        return results

    def _stored_notifications(self, event_ids: np.ndarray) -> dict[int, dict[str, Any]]:
        ids = np.unique(event_ids).tolist()
        rows = []
        for lo in range(0, len(ids), 1000):  # parameterized: ids never become SQL text
            part = ids[lo : lo + 1000]
            where = f"WHERE notification_id IN ({', '.join('?' * len(part))})"
            rows += self.store.con.execute(notes.SELECT + where, part).fetchall()
        return {int(r[0]): notes.as_dict(r) for r in rows}

    def close(self) -> None:
        """Release the engine's connection once the decision in progress, if any, is done."""
        with self.lock:
            self.store.close()

    def budget_burn(self) -> list[dict[str, Any]]:
        """Spend so far per offer against its budgets (cents). Read without the lock, so
        metrics answer while a batch is being decided (a moment's staleness is fine)."""
        processor = self.processor
        plan, spend = processor.plan, processor.engine.state.spend
        return [
            {
                "offer_id": offer.id,
                "spent_cents": int(spend.total[i]),
                "budget_cents": offer.budget_cents,
                "spent_today_cents": int(spend.today[i]),
                "daily_budget_cents": offer.daily_budget_cents,
            }
            for i, offer in enumerate(plan.offers)
        ]
