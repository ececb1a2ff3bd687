"""`pushlift init DIR`: a commented starter config and an example stream that `pushlift run`
decides at once, with delivered and held-out notifications."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from web.process import PUSHLIFT  # tests/ is on sys.path

from pushlift.engine.config import load_config
from pushlift.engine.plan import Plan
from pushlift.engine.runner import run
from pushlift.engine.stream import SCHEMA_PATH, read_events
from pushlift.errors import PushliftError
from pushlift.starter import write_starter
from pushlift.store import Store


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PUSHLIFT), *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_init_then_run_decides_the_example_at_once(tmp_path: Path) -> None:
    made = cli("init", "starter", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    folder = tmp_path / "starter"
    assert sorted(p.name for p in folder.iterdir()) == [
        "engine.yaml",
        "event.schema.json",
        "events.ndjson",
    ]
    said = " ".join(made.stdout.split())
    command = (
        "pushlift run starter/events.ndjson --config starter/engine.yaml "
        "--db starter/pushlift.duckdb"
    )
    assert command in said
    done = cli(*command.split()[1:], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    store = Store.open(folder / "pushlift.duckdb")
    try:
        delivered, held = store.con.execute(
            "SELECT count(*) FILTER (WHERE delivered), count(*) FILTER (WHERE NOT delivered) "
            "FROM notification"
        ).fetchall()[0]
        events = store.con.execute("SELECT count(*) FROM event").fetchall()[0][0]
    finally:
        store.close()
    assert delivered > 0 and held > 0
    lines = (folder / "events.ndjson").read_text().splitlines()
    assert 40 <= len(lines) <= 60 and events == len(lines)
    assert "future" not in done.stdout  # every event is dated before init ran
    kpis = cli("analyze", "kpis", "--db", "starter/pushlift.duckdb", cwd=tmp_path)
    assert kpis.returncode == 0, kpis.stderr


def test_the_config_explains_each_section(tmp_path: Path) -> None:
    written = write_starter(tmp_path / "s")
    text = written.config.read_text()
    config = yaml.safe_load(text)
    load_config(written.config)  # valid as written
    lines = text.splitlines()
    for section in config:
        at = next(i for i, line in enumerate(lines) if line.startswith(f"{section}:"))
        assert lines[at - 1].startswith("#"), f"{section} has no comment above it"
    assert "# quiet_hours:" in text  # shown, but off so the example decides at any hour
    assert written.schema.read_text() == SCHEMA_PATH.read_text()


@pytest.mark.parametrize("hour", [0, 3, 9, 13, 23])
def test_the_example_is_decided_at_any_hour_and_never_future(tmp_path: Path, hour: int) -> None:
    now = datetime(2026, 7, 4, hour, 17, tzinfo=UTC)
    written = write_starter(tmp_path / f"at{hour}", now=now)
    events = read_events(written.events)
    assert int(events.time_us.max()) <= int(now.timestamp() * 1e6)
    assert int(events.time_us.min()) >= int((now - timedelta(hours=3)).timestamp() * 1e6)
    kinds = {int(k) for k in events.kind}
    assert kinds == {0, 1, 2}
    store = Store.open(":memory:")
    summary = run(store, Plan(load_config(written.config)), [events])
    assert summary.outcomes["delivered"] > 0 and summary.outcomes["held_out"] > 0
    assert summary.future == 0


def test_init_keeps_existing_files_unless_forced(tmp_path: Path) -> None:
    write_starter(tmp_path)
    (tmp_path / "engine.yaml").write_text("# mine\n")
    with pytest.raises(PushliftError, match="already exist"):
        write_starter(tmp_path)
    assert (tmp_path / "engine.yaml").read_text() == "# mine\n"
    refused = cli("init", str(tmp_path), cwd=tmp_path)
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert cli("init", str(tmp_path), "--force", cwd=tmp_path).returncode == 0
    assert (tmp_path / "engine.yaml").read_text() != "# mine\n"
    (tmp_path / "file").write_text("x")
    not_dir = cli("init", str(tmp_path / "file"), cwd=tmp_path)
    assert not_dir.returncode == 2 and "not a directory" in not_dir.stderr


def test_the_example_events_are_valid_under_the_schema(tmp_path: Path) -> None:
    from .test_event_schema import SCHEMA, valid

    written = write_starter(tmp_path)
    for line in written.events.read_text().splitlines():
        assert valid(SCHEMA, json.loads(line)), line
