"""The engine as a service: decide posted events, durably, once per event id.

One writer thread owns the engine. Each turn it takes every request that is ready, decides
them together (tentatively), appends the events and decisions to the journal with one
sync, and only then answers them and lets the engine's clock move: an acknowledged event is
durable, and a request that fails leaves no trace. If the journal append (or anything
after the decisions) fails, the engine's state is rebuilt from what is durable and the
group's requests are decided again one by one, so one bad request cannot fail another.
A loader moves journaled groups into the analytic store in bulk; a restart loads what the
journal holds past the store's high-water mark before rebuilding the engine's state.

An event id seen before (in the store, the journal, or earlier in the group) is not decided
again: the answer carries the notification made for it the first time, if any. Events
dated further ahead of the ingest clock than `max_skew_us` are refused (InputError naming
the event and `time`), so no event can move the engine's clock into the future.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pushlift.engine.config import EngineConfig
from pushlift.engine.engine import OUTCOMES
from pushlift.engine.events import EventBatch, from_us
from pushlift.engine.plan import Plan
from pushlift.engine.runner import DEFAULT_MAX_SKEW_US, Processed, Processor, future_mask
from pushlift.errors import InputError
from pushlift.serve import config_versions, journal, notes
from pushlift.serve.loader import Loader
from pushlift.serve.metrics import Metrics
from pushlift.store import Store

Listener = Callable[[], None]
PRUNE_EVERY_S = 2.0
FOLD_SEEN = 1_000_000  # ids seen since the last rebuild kept in a set, then folded


@dataclass
class _Request:
    batch: EventBatch
    future: Future = field(default_factory=Future)


_STOP = object()


class DecisionService:
    def __init__(
        self,
        store: Store,
        config: EngineConfig,
        change: str,
        journal_path: Path,
        *,
        allowed_lateness_us: int = 0,
        max_skew_us: int = DEFAULT_MAX_SKEW_US,
        load_interval_s: float = 0.5,
        clock: Callable[[], int] = lambda: time.time_ns() // 1000,
    ) -> None:
        self.store = store.cursor()  # the engine's own connection: others read on theirs
        self.allowed_lateness_us, self.max_skew_us, self.now_us = (
            allowed_lateness_us,
            max_skew_us,
            clock,
        )
        self.listeners: list[Listener] = []  # called when new deliveries are durable
        self.journal = journal.Journal(journal_path)
        self.loader = Loader(store.cursor(), journal_path, self.journal.id, load_interval_s)
        self.loader.load_pending()  # a restart: what the journal holds past the store first
        self.lock = threading.Lock()  # held while deciding or reconfiguring
        self.metrics = Metrics()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pruned, self._last_prune = self.loader.mark, time.monotonic()
        self.version, self._broken = 0, False
        self._use(Plan(config), config, change)
        self._writer = threading.Thread(target=self._loop, daemon=True, name="pushlift-writer")
        self._writer.start()
        self.loader.start()

    # -- configuration ------------------------------------------------------------------
    def _use(self, plan: Plan, config: EngineConfig, change: str) -> None:
        """Decide with `plan` from now on. The state is rebuilt from the store (the journal
        loaded first); the version is stored only if all of that worked."""
        self.loader.load_pending()
        with self.store.transaction():
            processor = Processor(self.store, plan, self.allowed_lateness_us)
            version = config_versions.apply(self.store, config, change)
        self.processor, self.config, self.version = processor, config, version
        self._seen_before = np.sort(
            self.store.con.execute("SELECT event_id FROM event").fetchnumpy()["event_id"]
        )
        self._seen_since: set[int] = set()

    def reconfigure(self, config: EngineConfig, change: str) -> int:
        """Decide with `config` from now on; its version. A config that cannot be compiled
        is refused (InputError) and nothing is stored."""
        plan = compile_plan(config)
        with self.lock:
            self._use(plan, config, change)
            return self.version

    # -- deciding -----------------------------------------------------------------------
    def enqueue(self, batch: EventBatch) -> Future:
        """Queue `batch` for the writer; the future holds one result per event, in order."""
        request = _Request(batch)
        self._queue.put(request)
        return request.future

    def submit(self, batch: EventBatch) -> list[dict[str, Any]]:
        """Decide and journal `batch` (in event-time order); one result per event, in
        the batch's order. Raises InputError for a request the engine refuses."""
        started = time.perf_counter()
        with self.metrics.request():
            results = self.enqueue(batch).result()
        self.observe(results, time.perf_counter() - started)
        return results

    def observe(self, results: list[dict[str, Any]], seconds: float) -> None:
        duplicates = sum(r["outcome"] == "duplicate" for r in results)
        self.metrics.observe(len(results), duplicates, seconds)

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            group = [self._queue.get()]
            with self.lock:
                # Everything that arrived meanwhile joins the group: one journal sync for all.
                while True:
                    try:
                        group.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                stopping = _STOP in group
                group = [r for r in group if r is not _STOP]
                if group:
                    self._decide_safely(group)
            self._maybe_prune()

    def _decide_safely(self, group: list[_Request]) -> None:
        try:
            if self._broken:
                self._recover()
            self._decide_group(group)
        except Exception as e:  # noqa: BLE001 - recovery failed: the store is unusable
            self._broken = True
            for request in group:
                if not request.future.done():
                    request.future.set_exception(e)

    def _decide_group(self, group: list[_Request]) -> None:
        now = self.now_us()
        ready = [r for r in group if self._in_time(r, now)]
        if not ready:
            return
        try:
            self._decide(ready, now)
        except Exception as first:  # noqa: BLE001 - nothing was acknowledged; undo, retry
            self._recover()
            if len(ready) == 1:
                ready[0].future.set_exception(first)
                return
            for request in ready:  # alone, so only a request that fails by itself fails
                try:
                    self._decide([request], now)
                except Exception as e:  # noqa: BLE001
                    self._recover()
                    request.future.set_exception(e)

    def _in_time(self, request: _Request, now: int) -> bool:
        ahead = future_mask(request.batch, now, self.max_skew_us)
        if not ahead.any():
            return True
        i = int(np.flatnonzero(ahead)[0])
        skew_s = self.max_skew_us // 1_000_000
        when = from_us(int(request.batch.time_us[i])).isoformat()
        request.future.set_exception(FutureEvent(int(request.batch.event_id[i]), when, skew_s))
        return False

    def _decide(self, group: list[_Request], now: int) -> None:
        """Decide, journal (one sync), then commit and answer: all or nothing."""
        merged = EventBatch.concat([r.batch for r in group])
        order = np.argsort(merged.time_us, kind="stable")
        batch = merged.take(order)
        fresh = self._fresh(batch)
        done = self.processor.decide(batch, fresh, now)
        self.journal.append(journal.Group.of(done))
        # Durable: the engine's clock and the seen ids move; answers go out.
        self.processor.commit(done)
        self._seen_since.update(done.kept.event_id.tolist())
        if done.decisions.delivered.any():
            self._notify()
        answers = self._answers(batch, done)
        in_merged: list[dict[str, Any]] = [{}] * len(merged)
        for k, i in enumerate(order.tolist()):
            in_merged[i] = answers[k]
        start = 0
        for r in group:
            r.future.set_result(in_merged[start : start + len(r.batch)])
            start += len(r.batch)

    def _fresh(self, batch: EventBatch) -> np.ndarray:
        """Events to decide: first of their id in the batch, never seen before."""
        _, first = np.unique(batch.event_id, return_index=True)
        fresh = np.zeros(len(batch), dtype=bool)
        fresh[first] = True
        ids = batch.event_id
        before = self._seen_before
        if len(before):
            at = np.minimum(np.searchsorted(before, ids), len(before) - 1)
            fresh &= before[at] != ids
        if self._seen_since:
            since = self._seen_since
            fresh &= np.array([i not in since for i in ids.tolist()], dtype=bool)
        return fresh

    def _answers(self, batch: EventBatch, done: Processed) -> list[dict[str, Any]]:
        made = notes.from_decisions(done)
        outcome = np.full(len(batch), -1, dtype=np.int16)
        outcome[done.fresh] = done.decisions.outcome
        repeated = batch.event_id[~done.fresh].tolist()
        earlier = self._earlier_notifications([i for i in repeated if i not in made])
        answers = []
        for i, event_id in enumerate(batch.event_id.tolist()):
            fresh = bool(done.fresh[i])
            answers.append(
                {
                    "event_id": event_id,
                    "outcome": OUTCOMES[outcome[i]] if fresh else "duplicate",
                    "notification": made.get(event_id) if fresh or event_id in made
                    else earlier.get(event_id),
                }
            )  # fmt: skip
        return answers

    def _earlier_notifications(self, event_ids: list[int]) -> dict[int, dict[str, Any]]:
        """Notifications of events decided before: in the journal, else in the store (the
        loader prunes the journal only after the store holds the rows, so looking in this
        order cannot miss one)."""
        if not event_ids:
            return {}
        ids = sorted(set(event_ids))
        found = {
            row["event_id"]: notes.from_journal(row)
            for row in journal.notifications_for(self.journal.con, ids)
        }
        rest = [i for i in ids if i not in found]
        for lo in range(0, len(rest), 1000):  # parameterized: ids never become SQL text
            part = rest[lo : lo + 1000]
            where = f"WHERE notification_id IN ({', '.join('?' * len(part))})"
            for r in self.store.con.execute(notes.SELECT + where, part).fetchall():
                found[int(r[0])] = notes.as_dict(r)
        return found

    def _recover(self) -> None:
        """After a failed group: the engine's state back to exactly what is durable."""
        self._broken = True
        self._use(self.processor.plan, self.config, "recovery")
        self._broken = False

    # -- the journal's other side -------------------------------------------------------
    def _notify(self) -> None:
        for listener in list(self.listeners):
            listener()

    def _maybe_prune(self) -> None:
        if len(self._seen_since) > FOLD_SEEN:  # a set costs ~10x a sorted array per id
            since = np.fromiter(self._seen_since, dtype=np.int64, count=len(self._seen_since))
            self._seen_before = np.union1d(self._seen_before, since)
            self._seen_since = set()
        mark = self.loader.mark
        if mark > self._pruned and time.monotonic() - self._last_prune > PRUNE_EVERY_S:
            self.journal.prune(mark)
            self._pruned, self._last_prune = mark, time.monotonic()

    def close(self) -> None:
        """Finish what is queued, load the journal into the store, release connections."""
        self._queue.put(_STOP)
        self._writer.join()
        self.loader.close()
        self.journal.close()
        with self.lock:
            self.store.close()
        self.loader.store.close()

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


class FutureEvent(InputError):
    """An event dated too far ahead of the ingest clock; `event_id` says which."""

    def __init__(self, event_id: int, when: str, skew_s: int) -> None:
        super().__init__(
            f"event {event_id} is dated {when}, more than {skew_s} s ahead of the service's "
            "clock; it was not decided",
            file="request",
            column="time",
        )
        self.event_id = event_id


def compile_plan(config: EngineConfig) -> Plan:
    """The config compiled for the engine; a config that validates but cannot be compiled
    is an InputError, not a crash."""
    try:
        return Plan(config)
    except (ValueError, OverflowError, MemoryError) as e:
        raise InputError(f"the config cannot be compiled: {e}", file="config") from None
