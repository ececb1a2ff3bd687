"""The `pushlift` command: demo, simulate, import and analyze."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from pushlift import ops
from pushlift.analysis.spec import MAX_TUNING, SEQUENTIAL_TUNING
from pushlift.engine.events import EventBatch as EngineBatch
from pushlift.errors import PushliftError
from pushlift.store import DEFAULT_DB, Store

if TYPE_CHECKING:
    from pushlift.analysis.stats import GaussianPrior

app = typer.Typer(
    help="Real-time marketing messages, measured with real statistics.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
simulate_app = typer.Typer(help="Simulate a scenario into the store.", no_args_is_help=True)
import_app = typer.Typer(
    help="Import exports into the store, with validation.", no_args_is_help=True
)
analyze_app = typer.Typer(help="Analyse data in the store or in a file.", no_args_is_help=True)
app.add_typer(simulate_app, name="simulate")
app.add_typer(import_app, name="import")
app.add_typer(analyze_app, name="analyze")
keys_app = typer.Typer(help="API keys for `pushlift serve` (stored hashed).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

out = Console()
err = Console(stderr=True)

DbOption = Annotated[
    Path,
    typer.Option(
        "--db",
        envvar="PUSHLIFT_DB",
        help="The DuckDB store file; default $PUSHLIFT_DB, else out/pushlift.duckdb (where the "
        "demo writes).",
    ),
]


@contextmanager
def steps(title: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr showing the current step; yields a function to announce steps."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(title)

        def step(message: str) -> None:
            progress.update(task, description=f"{title}: {message}")

        yield step


def fail(message: str) -> None:
    # Messages quote the user's data (names, values, paths): never read as console markup.
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(2)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn input problems into one clear line and exit code 2, without a traceback."""
    try:
        yield
    except (PushliftError, ValueError, FileExistsError) as e:
        fail(str(e))



MaxSkewOption = Annotated[
    str,
    typer.Option(
        help="Refuse events dated further than this ahead of the clock (e.g. 30s, 5m): one "
        "wrong date must not move the engine's clock into the future."
    ),
]


@app.command("run")
def run_cmd(
    events: Annotated[
        list[str],
        typer.Argument(
            help="Event files (.ndjson/.jsonl, .csv, .parquet), or '-' for NDJSON on stdin."
        ),
    ],
    config: Annotated[Path, typer.Option(help="Engine config (YAML or JSON).")],
    db: DbOption = DEFAULT_DB,
    max_skew: MaxSkewOption = "5m",
    column_map: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="CSV/Parquet: read a field from another column, CANONICAL=COLUMN, e.g. "
            "--map subscriber_id=user --map time=ts (repeatable).",
        ),
    ] = None,
) -> None:
    """Decide on a stream of events and store events, notifications and fill counts.

    One event per NDJSON line, CSV row (a header row names the columns; others are
    ignored; an empty cell is a missing value) or Parquet row:

      event_id       integer 0 to 2^63-1, unique over all kinds: a replay skips it
      kind           location, purchase or site_visit
      subscriber_id  integer 0 to 2^63-1
      time           ISO 8601 with a UTC offset: 2026-03-02T10:00:00Z or
                     2026-03-02T11:00:00+01:00; from 1970-01-01 to the end of 2200
      lat, lon       location: needed, degrees (-90..90, -180..180)
      vendor_id      purchase: needed (a vendor id of the config); site_visit: the
                     vendor whose site it is (give it or domain)
      amount_cents   purchase: needed, integer cents 0 to 10^12 (1999 is $19.99)
      domain         site_visit: the domain visited (or give vendor_id)

    {"event_id": 1, "kind": "location", "subscriber_id": 7,
     "time": "2026-03-02T10:00:00Z", "lat": 40.4168, "lon": -3.7038}

    Files are read whole and sorted by event time; on stdin events must arrive
    in time order (a micro-batch ends when the stream pauses). Events dated more
    than --max-skew ahead of this machine's clock are refused and counted as
    future (not stored, not decided). Events already in the store are skipped,
    so a replay adds nothing. A bad value stops the run with one message naming
    the file, the line or row (a CSV header is row 1) and the field; every file
    is checked before anything is stored. The same rules as a JSON Schema:
    event.schema.json in the package (pushlift init DIR copies it into DIR)."""
    from itertools import chain

    from pushlift.engine.config import load_config
    from pushlift.engine.plan import Plan
    from pushlift.engine.runner import RunSummary, run
    from pushlift.engine.stream import (
        event_format,
        parse_mapping,
        read_events,
        read_stdin_batches,
    )

    with user_errors():
        try:
            with steps("run") as step:
                from pushlift.engine.config import duration_option

                skew_us = duration_option("--max-skew", max_skew)
                mapping = parse_mapping(column_map or [])
                tabular = [n != "-" and event_format(n) in ("csv", "parquet") for n in events]
                if mapping and not any(tabular):
                    raise PushliftError(
                        "--map renames CSV and Parquet columns; NDJSON fields (files and "
                        "stdin) use the canonical names"
                    )
                plan = Plan(load_config(config))
                # Every file is read and checked before the store is touched: one bad
                # file anywhere adds nothing.
                step("reading the event files")
                files = {
                    i: read_events(name, mapping if tabular[i] else None)
                    for i, name in enumerate(events)
                    if name != "-"
                }

                def batches() -> Iterator[EngineBatch]:
                    for i, name in enumerate(events):
                        if name == "-":
                            yield from read_stdin_batches()
                        else:
                            yield files.pop(i)

                stream = batches()
                first = next(stream, None)  # stdin's first micro-batch is checked too

                def show(s: RunSummary) -> None:
                    step(f"{s.events_read:,} events, {s.events_read / max(s.seconds, 1e-9):,.0f}/s")

                with Store.writing(db) as store:
                    summary = run(
                        store,
                        plan,
                        chain([] if first is None else [first], stream),
                        progress=show,
                        max_skew_us=skew_us,
                    )
        except (PushliftError, ValueError) as e:
            raise PushliftError(str(e)) from None
    notified = summary.outcomes["delivered"] + summary.outcomes["held_out"]
    out.print(
        f"{summary.events_read:,} events read in {summary.seconds:.1f} s: "
        f"{summary.already_stored:,} already stored (skipped), {summary.late:,} late, "
        f"{summary.opportunities:,} with a matching offer, {notified:,} notifications "
        f"({summary.outcomes['delivered']:,} delivered, {summary.outcomes['held_out']:,} held "
        f"out); fill rate {summary.fill_rate:.1%}"
        if summary.opportunities
        else f"{summary.events_read:,} events read: {summary.already_stored:,} already stored, "
        f"{summary.late:,} late, none matched an offer"
    )
    skip = ("no_match", "delivered", "held_out")
    blocked = {k: v for k, v in summary.outcomes.items() if v and k not in skip}
    if blocked:
        out.print("not notified because of: " + ", ".join(f"{k} {v:,}" for k, v in blocked.items()))
    if summary.future:
        out.print(
            f"{summary.future:,} events dated more than {max_skew} ahead of this machine's "
            "clock were refused (future): not stored, not decided"
        )


@app.command("init")
def init_cmd(
    directory: Annotated[Path, typer.Argument(help="Folder to write into (created if needed).")],
    force: Annotated[bool, typer.Option(help="Overwrite files of an earlier init.")] = False,
) -> None:
    """Write a commented starter config (engine.yaml), a small example stream
    (events.ndjson: about 50 events of the last two hours) and the event format's JSON
    Schema (event.schema.json) into DIRECTORY; the command it prints decides the stream
    at once."""

    from pushlift.starter import write_starter

    with user_errors():
        try:
            written = write_starter(directory, force=force)
        except PushliftError as e:
            raise PushliftError(str(e)) from None
    out.print(
        f"wrote {written.config} (the engine config, commented), {written.events} "
        f"({written.n_events} events) and {written.schema} (the event format)\n"
        f"decide them: pushlift run {written.events} --config {written.config} "
        f"--db {written.db}\n"
        f"then:        pushlift analyze kpis --db {written.db}",
        highlight=False,
        markup=False,
    )


@simulate_app.command("city")
def simulate_city_cmd(
    subscribers: Annotated[
        int, typer.Option(help="Subscribers (a few hundred to millions); vendors scale with it.")
    ] = 10_000,
    days: Annotated[int, typer.Option(help="Days of city life to simulate.")] = 7,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same data.")] = 1,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Simulate subscribers moving and shopping in a city, in a closed loop with the engine.

    Replaces any earlier city simulation in the store."""
    from pushlift.sim.city import simulate_city

    with (
        user_errors(),
        Progress(
            TextColumn("simulate city"),
            BarColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar,
    ):
        task = bar.add_task("city", total=1.0)
        with Store.writing(db) as store:
            summary = simulate_city(
                store, subscribers, days, seed, progress=lambda f: bar.update(task, completed=f)
            )
    out.print(
        f"simulated {summary.subscribers:,} subscribers and {summary.vendors:,} vendors for "
        f"{days} days into {db}: {summary.events:,} events, {summary.notifications:,} "
        f"notifications ({summary.delivered:,} delivered), {summary.induced_purchases:,} "
        "purchases caused by them"
    )


@simulate_app.command("mall")
def simulate_mall(
    consumers: Annotated[int, typer.Option(help="Number of consumers.")] = 9032,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same data.")] = 1,
    effect: Annotated[
        str,
        typer.Option(
            help="True uplift in the per-trip probability of buying at a second store: a number, "
            "or KEY=VALUE pairs added up per consumer, e.g. "
            "'base=0.02,loyalty_high=0.04,age_60_plus=-0.01' (the default). Keys: base, "
            "female, male, loyalty_low, loyalty_high, age_18_29, age_30_39, age_40_49, "
            "age_50_59, age_60_plus."
        ),
    ] = "base=0.02,loyalty_high=0.04,age_60_plus=-0.01",
    db: DbOption = DEFAULT_DB,
    export: Annotated[
        Path | None,
        typer.Option(help="Also write the operator's export (consumer.csv, purchase.csv) here."),
    ] = None,
    replace: Annotated[bool, typer.Option(help="Overwrite the simulated experiment.")] = False,
) -> None:
    """Simulate the mall week: consumers, trips, purchases and a 50/50 randomized message."""
    from pushlift.sim import mall

    with user_errors(), steps("simulate mall") as step:
        model = mall.MallModel(effect=mall.parse_effect(effect))
        step(f"drawing {consumers:,} consumers")
        week = mall.simulate_week(consumers, seed, model)
        step("writing the store")
        with Store.writing(db) as store:
            mall.write_week(store, week, model, replace=replace)
            paths = mall.export_tables(store, str(export)) if export else None
    out.print(
        f"simulated {consumers:,} consumers, {len(week.purchase['purchase_id']):,} "
        f"purchases into {db} (experiment {mall.EXPERIMENT_ID})"
    )
    if paths:
        out.print(f"export: {paths[0]}, {paths[1]}")


@simulate_app.command("engagement")
def simulate_engagement(
    customers: Annotated[int, typer.Option(help="Number of customers.")] = 8000,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same files.")] = 1,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for sales.csv, outbound.csv, truth.json.")
    ] = Path("out/engagement"),
    effect: Annotated[
        str,
        typer.Option(
            help="Probability that responding causes one extra purchase within 30 days: a "
            "number, or KEY=VALUE pairs added up per customer. Keys: base, occasional, "
            "regular, frequent, low_spend, high_spend, store, online."
        ),
    ] = "base=0.08,occasional=0.04,frequent=-0.04",
) -> None:
    """Simulate a retailer's CRM exports (sales ledger, conversations) with a known effect."""
    from pushlift.sim import engagement
    from pushlift.sim.engagement_files import write_files

    with user_errors(), steps("simulate engagement") as step:
        model = engagement.EngagementModel(effect=engagement.parse_effect(effect))
        step(f"drawing {customers:,} customers")
        data = engagement.simulate(customers, seed, model)
        step(f"writing {out_dir}")
        paths = write_files(data, out_dir)
    out.print(
        f"simulated {customers:,} customers: {data.outbound['phone'].size:,} conversations, "
        f"{data.sales['phone'].size:,} sales lines\n"
        f"files: {paths['sales.csv']}, {paths['outbound.csv']}, {paths['truth.json']}"
    )


@import_app.command("mall")
def import_mall_cmd(
    consumer: Annotated[
        Path, typer.Argument(help="consumer.csv: consumer_id, age, gender, loyalty_status")
    ],
    purchase: Annotated[
        Path,
        typer.Argument(help="purchase.csv: consumer_id, from_second_store_sales, realtime_message"),
    ],
    db: DbOption = DEFAULT_DB,
    experiment: Annotated[str, typer.Option(help="Experiment id to store it under.")] = (
        "mall-import"
    ),
    replace: Annotated[bool, typer.Option(help="Overwrite an experiment of that id.")] = False,
    quarantine: Annotated[
        bool,
        typer.Option(
            help="Import the valid rows and set aside each row with a problem (and the other "
            "file's row of that consumer), stored with its reason in mall_rejected_row."
        ),
    ] = False,
    assigned: Annotated[
        str | None,
        typer.Option(
            metavar="N_TREATED,N_CONTROL",
            help="The planned arm sizes, for a purchase file that lists only buyers: every "
            "consumer not in it is then counted as a non-buyer, so the share who bought again "
            "can be analysed (the assumption is stated with the results).",
        ),
    ] = None,
) -> None:
    """Import the mall operator's two-table export. Every problem of both files is reported
    at once, grouped by kind; nothing is written if there is any, unless --quarantine."""

    from pushlift.ingest.mall import MallImportRefused, import_mall

    sizes = None
    if assigned is not None:
        parts = assigned.split(",")
        if len(parts) != 2 or not all(x.strip().isdigit() for x in parts):
            fail(f"--assigned must be N_TREATED,N_CONTROL (two whole numbers): {assigned}")
        sizes = (int(parts[0]), int(parts[1]))
    with user_errors():
        try:
            with Store.writing(db) as store:
                summary = import_mall(
                    store,
                    consumer,
                    purchase,
                    experiment_id=experiment,
                    replace=replace,
                    quarantine=quarantine,
                    assigned=sizes,
                )
        except MallImportRefused as refused:
            first, *report = str(refused).split("\n")
            err.print(f"[bold red]error:[/] {escape(first)}", highlight=False, soft_wrap=True)
            for line in report:
                err.print(line, markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
    for line in summary.report.lines() if summary.report else []:
        out.print(line, markup=False, highlight=False, soft_wrap=True)
    others = (
        f" and {summary.non_buyers:,} consumers without a purchase row (arm unknown)"
        if summary.non_buyers
        else ""
    )
    out.print(
        f"imported {summary.consumers:,} {'buyers' if others else 'consumers'} "
        f"({summary.treated:,} messaged, {summary.control:,} control){others} into "
        f"{escape(str(db))} as experiment "
        f"{escape(summary.experiment_id)}",
        highlight=False,
        soft_wrap=True,
    )


@analyze_app.command("experiment")
def analyze_experiment_cmd(
    db: DbOption = DEFAULT_DB,
    experiment: Annotated[
        str | None, typer.Option(help="Mall experiment id in the store (default: the only one).")
    ] = None,
    table: Annotated[
        Path | None,
        typer.Option(
            help="Analyse a CSV or Parquet file with one row per unit instead of the store."
        ),
    ] = None,
    arm: Annotated[str | None, typer.Option(help="--table: the arm column.")] = None,
    control: Annotated[str | None, typer.Option(help="--table: the control arm's value.")] = None,
    outcome: Annotated[
        list[str] | None,
        typer.Option(help="--table: an outcome column (repeatable); 0/1 columns are proportions."),
    ] = None,
    ratio: Annotated[
        list[str] | None,
        typer.Option(help="--table: a ratio outcome NAME=NUMERATOR/DENOMINATOR (repeatable)."),
    ] = None,
    secondary: Annotated[
        list[str] | None,
        typer.Option(
            help="--table: a secondary outcome column (repeatable): its own multiplicity "
            "family, so it does not dilute the primary outcomes' Holm/BH."
        ),
    ] = None,
    guardrail: Annotated[
        list[str] | None,
        typer.Option(
            help="--table: a guardrail outcome column (repeatable), watched for harm, in a "
            "multiplicity family of its own."
        ),
    ] = None,
    covariate: Annotated[
        list[str] | None, typer.Option(help="--table: a pre-treatment covariate (repeatable).")
    ] = None,
    segment: Annotated[
        list[str] | None, typer.Option(help="--table: a column to split effects by (repeatable).")
    ] = None,
    weight: Annotated[
        list[float] | None,
        typer.Option(help="--table: planned arm shares, control first then other arms by name."),
    ] = None,
    alpha: Annotated[float, typer.Option(help="Significance level.")] = 0.05,
    seed: Annotated[int, typer.Option(help="Seed for the clustering sample.")] = 0,
    bayesian: Annotated[
        bool,
        typer.Option(
            help="Also give, per comparison, the posterior of the relative lift under a flat "
            "prior: chance to beat control, expected loss each way, credible interval."
        ),
    ] = False,
    prior: Annotated[
        str | None,
        typer.Option(
            help="With --bayesian: a normal prior on the relative lift, MEAN,SD as fractions "
            "(e.g. 0,0.05 for 'lifts beyond ±10% are rare'); flat when not given."
        ),
    ] = None,
    alternative: Annotated[
        str,
        typer.Option(
            help="two-sided, or greater / less: test that the arm raises / lowers the outcome "
            "(one-sided intervals and power; subgroup effects stay two-sided)."
        ),
    ] = "two-sided",
    sequential: Annotated[
        bool,
        typer.Option(
            help="Also give, per comparison, an always-valid interval and p-value (asymptotic "
            "confidence sequence): valid however often a running experiment is looked at."
        ),
    ] = False,
    sequential_tuning: Annotated[
        int,
        typer.Option(
            help="With --sequential: the total units (all arms of a comparison) at which the "
            "interval is tightest; set it near the sample you expect (GrowthBook's default).",
        ),
    ] = SEQUENTIAL_TUNING,
    pre_period: Annotated[
        str | None,
        typer.Option(
            help="Store only: also adjust each effect for the same outcomes in this many days "
            "before the experiment, e.g. 7d (CUPED, from the store's purchase history). With "
            "--table, name a pre-period column with --covariate.",
        ),
    ] = None,
    winsorize: Annotated[
        float | None,
        typer.Option(
            help="Cap each mean outcome (and ratio numerator) at this percentile of both arms "
            "pooled, e.g. 99 or 99.9, before analysing: heavy tails then weigh less. Stated "
            "in the output.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    report: Annotated[Path | None, typer.Option(help="Also write the HTML report here.")] = None,
) -> None:
    """Analyse a randomized experiment: effects, adjustment, heterogeneity, power, segments."""
    import duckdb

    from pushlift.analysis.experiment import analyze_experiment
    from pushlift.analysis.results import to_jsonable

    if not 0 < alpha < 0.5:
        fail("--alpha must be between 0 and 0.5")
    if alternative not in ("two-sided", "greater", "less"):
        fail(f"--alternative must be two-sided, greater or less, not {alternative!r}")
    belief = _prior(prior) if bayesian else None
    if prior is not None and not bayesian:
        fail("--prior goes with --bayesian")
    if not 1 <= sequential_tuning <= MAX_TUNING:
        fail(f"--sequential-tuning must be from 1 to {MAX_TUNING:,} units")
    if sequential_tuning != SEQUENTIAL_TUNING and not sequential:
        fail("--sequential-tuning goes with --sequential")
    if (secondary or guardrail) and table is None:
        fail("--secondary and --guardrail name columns of a --table")
    pre_days = _days(pre_period) if pre_period is not None else None
    if pre_days is not None and table is not None:
        fail("--pre-period reads the store's history; with --table, pass the pre-period "
             "column as a --covariate")  # fmt: skip
    if winsorize is not None and not 50 < winsorize < 100:
        fail(f"--winsorize is a percentile between 50 and 100 (e.g. 99), not {winsorize:g}")
    with user_errors(), steps("analyze experiment") as step:
        if table is not None:
            from pushlift.ingest.table import table_spec

            if not arm or control is None:
                fail("--table needs --arm and --control")

            con = duckdb.connect()
            try:
                spec = table_spec(
                    con,
                    table,
                    arm=arm,
                    control=control,
                    outcomes=outcome or [],
                    ratios=ratio or [],
                    covariates=covariate or [],
                    segments=segment or [],
                    weights=weight,
                    secondary=secondary or [],
                    guardrails=guardrail or [],
                )
            except PushliftError as e:
                raise PushliftError(str(e)) from None
        else:
            from pushlift.analysis.mall import mall_spec

            if not db.exists():
                fail(
                    f"no store at {db}; run `pushlift simulate mall` or `pushlift import mall`"
                    " first, or pass --table"
                )
            store = Store.open_for_reading(db)
            con = store.con
            spec = mall_spec(store, experiment, pre_period_days=pre_days)
        result = analyze_experiment(
            con,
            spec,
            alpha=alpha,
            seed=seed,
            bayesian=belief,
            alternative=alternative,
            sequential=sequential_tuning if sequential else None,
            winsorize=winsorize,
            progress=step,
        )
        if report is not None:
            from pushlift.report.html import write_report

            step("writing the report")
            write_report(result, report)
    if as_json:
        sys.stdout.write(json.dumps(to_jsonable(result), indent=1, allow_nan=False) + "\n")
    else:
        from pushlift.terminal import print_result

        print_result(result, out)
    if report is not None:
        err.print(f"report: {report}")


def _days(text: str) -> int:
    """--pre-period Nd (1 to 365 days) as a number of days."""
    digits = text.strip().removesuffix("d")
    if not digits.isdigit() or not 1 <= int(digits) <= 365:
        fail(f"--pre-period must be a number of days from 1d to 365d, e.g. 7d; got {text!r}")
    return int(digits)


def _prior(text: str | None) -> GaussianPrior:
    """--prior MEAN,SD (fractions of the control mean) as a prior; None is flat."""
    from pushlift.analysis.stats import GaussianPrior

    if text is None:
        return GaussianPrior()
    try:
        mean, sd = (float(x) for x in text.split(","))
    except ValueError:
        fail(f"--prior must be MEAN,SD, e.g. 0,0.05; got {text!r}")
    if not (math.isfinite(mean) and math.isfinite(sd) and sd > 0):
        fail(f"--prior needs a finite mean and a positive, finite sd; got {text!r}")
    return GaussianPrior(mean, sd * sd, proper=True)


@import_app.command("crm")
def import_crm_cmd(
    sales: Annotated[Path, typer.Option(help="Sales ledger CSV (one row per line item).")],
    messages: Annotated[Path, typer.Option(help="Outbound conversations CSV.")],
    db: DbOption = DEFAULT_DB,
    dataset: Annotated[str, typer.Option(help="Dataset id to store it under.")] = "crm",
    replace: Annotated[bool, typer.Option(help="Overwrite a dataset of that id.")] = False,
    column_map: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="Map a canonical column to your file's header: canonical=column, or "
            "sales.canonical=column / messages.canonical=column (repeatable). Sales: phone, "
            "customer_id, amount, order_date, return_date, location, transaction_id. Messages: "
            "phone, n_messages, has_response, conversation_id, contact_date, location.",
        ),
    ] = None,
    iso_dates: Annotated[
        str,
        typer.Option(
            help="How ISO order dates with day <= 12 are read: auto (decided from returns "
            "dated before their order, and reported), as-written, or swapped."
        ),
    ] = "auto",
    shared_phone_ids: Annotated[
        int, typer.Option(help="Report phones with more customer ids than this as shared.")
    ] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Import CRM exports (sales ledger + outbound conversations) with a data-quality report."""
    from pushlift.analysis.results import to_jsonable
    from pushlift.ingest.crm import import_crm
    from pushlift.ingest.crm_columns import parse_column_map
    from pushlift.ingest.crm_quality import quality_lines

    with user_errors(), steps("import crm") as step:
        maps = parse_column_map(column_map or [])
        step("validating and loading")
        with Store.writing(db) as store:
            result = import_crm(
                store,
                sales,
                messages,
                dataset_id=dataset,
                replace=replace,
                column_map=maps,
                iso_day_month=iso_dates,  # type: ignore[arg-type]
                shared_phone_ids=shared_phone_ids,
            )
    if as_json:
        sys.stdout.write(json.dumps(to_jsonable(result), indent=1, allow_nan=False) + "\n")
        return
    for line in quality_lines(result.quality):
        out.print(line, highlight=False, soft_wrap=True)
    out.print(
        f"imported {result.sale_lines:,} sales lines and {result.conversations:,} conversations "
        f"into {db} as CRM dataset {result.dataset_id}"
    )


@analyze_app.command("kpis")
def analyze_kpis_cmd(
    db: DbOption = DEFAULT_DB,
    window_hours: Annotated[
        float, typer.Option(help="Credit purchases up to this many hours after a notification.")
    ] = 24.0,
    touch: Annotated[
        str, typer.Option(help="last (the latest notification before a purchase) or first.")
    ] = "last",
    retention_days: Annotated[
        int, typer.Option(help="Days after the first notification that count for retention.")
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    report: Annotated[Path | None, typer.Option(help="Also write the HTML report here.")] = None,
) -> None:
    """Attribution and marketing KPIs with incremental lift versus the holdout."""
    from pushlift.analysis.kpis import kpi_report
    from pushlift.report.kpi_terminal import print_kpis

    if touch not in ("last", "first"):
        fail("--touch must be last or first")
    with user_errors(), steps("analyze kpis") as step:
        store = Store.open_for_reading(db)
        try:
            step("attributing purchases")
            result = kpi_report(
                store, window_hours=window_hours, touch=touch, retention_days=retention_days
            )
        finally:
            store.close()
        if report is not None:
            from pushlift.report.kpis import write_kpi_report

            write_kpi_report(result, report)
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=1, allow_nan=False) + "\n")
    else:
        print_kpis(result, out)
    if report is not None:
        err.print(f"report: {report}")


@analyze_app.command("engagement")
def analyze_engagement_cmd(
    db: DbOption = DEFAULT_DB,
    dataset: Annotated[str, typer.Option(help="CRM dataset id in the store.")] = "crm",
    window: Annotated[
        list[int] | None, typer.Option(help="Days after contact (repeatable; default 7 and 30).")
    ] = None,
    method: Annotated[
        str,
        typer.Option(
            help="careful (customer level, the default) or naive-row-join (reproduce the "
            "published row-join figures from --sales/--messages, shown next to the careful ones)."
        ),
    ] = "careful",
    sales: Annotated[
        Path | None, typer.Option(help="Sales CSV: for naive-row-join, or to analyse files.")
    ] = None,
    messages: Annotated[Path | None, typer.Option(help="Outbound conversations CSV.")] = None,
    max_ids_per_phone: Annotated[
        int, typer.Option(help="Leave out phones shared by more customer ids than this.")
    ] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    report: Annotated[Path | None, typer.Option(help="Also write the HTML report here.")] = None,
) -> None:
    """Customers contacted: spend and purchases after contact, responders vs not, adjusted."""
    from pushlift.analysis.engagement import analyze_engagement
    from pushlift.analysis.results import to_jsonable
    from pushlift.report.engagement_terminal import print_engagement, print_naive

    if method not in ("careful", "naive-row-join"):
        fail("--method must be careful or naive-row-join")
    if (sales is None) != (messages is None):
        fail("--sales and --messages go together")
    if method == "naive-row-join" and sales is None:
        fail("--method naive-row-join needs --sales and --messages (it reads the raw files)")
    naive = None
    with user_errors(), steps("analyze engagement") as step:
        if method == "naive-row-join":
            try:
                from pushlift.analysis.engagement_naive import naive_row_join
            except ImportError:
                fail("the naive-row-join method is not available in this version")
            step("reproducing the published row join")
            naive = naive_row_join(sales, messages)  # type: ignore[arg-type]
        has_dataset = False
        if db.exists():
            store = Store.open_for_reading(db)
            has_dataset = bool(
                store.con.execute(
                    "SELECT count(*) FROM crm_import WHERE dataset_id = ?", [dataset]
                ).fetchall()[0][0]
            )
        if not has_dataset and sales is not None:
            from pushlift.ingest.crm import import_crm

            step("importing the files into a temporary store")
            if db.exists():
                store.close()
            store = Store.open(":memory:")
            import_crm(store, sales, messages, dataset_id=dataset)  # type: ignore[arg-type]
            has_dataset = True
        if not has_dataset and naive is None:
            fail(
                f"no CRM dataset {dataset!r} in {db}; run `pushlift import crm` first, or pass "
                "--sales and --messages"
            )
        result = None
        if has_dataset:
            result = analyze_engagement(
                store.con,
                dataset_id=dataset,
                windows=window or [7, 30],
                progress=step,
                max_ids_per_phone=max_ids_per_phone,
            )
            if naive is not None:
                result = dataclasses.replace(result, naive=naive)
            store.close()
        if report is not None and result is not None:
            from pushlift.report.engagement import write_engagement_report

            step("writing the report")
            write_engagement_report(result, report)
    if as_json:
        payload = to_jsonable(result) if result is not None else {}
        if naive is not None:
            payload["naive"] = naive.to_jsonable()
        sys.stdout.write(json.dumps(payload, indent=1, allow_nan=False) + "\n")
    else:
        if result is not None:
            print_engagement(result, out)
        if naive is not None:
            print_naive(naive, result, out)
    if report is not None and result is not None:
        err.print(f"report: {report}")


@app.command("dashboard")
def dashboard_cmd(
    db: DbOption = DEFAULT_DB,
    host: Annotated[str, typer.Option(help="Address to listen on (local only by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8050,
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the dashboard in a browser.")
    ] = True,
    config: Annotated[
        Path | None, typer.Option(help="Engine config, to run the engine live with --follow.")
    ] = None,
    follow: Annotated[
        str | None,
        typer.Option(
            help="Run the engine on this event file, or '-' for NDJSON on stdin, while the "
            "dashboard updates live (needs --config)."
        ),
    ] = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            help="Also answer requests for this host name (repeatable; '*.example.com', or "
            "'*' for any). Localhost, 127.0.0.1, [::1] and --host are always answered."
        ),
    ] = None,
) -> None:
    """A local web dashboard on the store: KPIs, vendors, offers, map, experiments.

    Every page /NAME has a JSON twin at /api/NAME. Pages update when the data change."""
    from pushlift.web.server import serve

    if follow is not None and config is None:
        fail("--follow needs --config (the engine config to decide with)")
    if follow is None and not db.exists():
        fail(f"no store at {db}; run `pushlift simulate city` or `pushlift simulate mall` first")
    with user_errors():
        serve(
            db,
            host=host,
            port=port,
            open_browser=open_browser,
            config=config,
            follow=follow,
            allow_hosts=allow_host or (),
            announce=lambda line: err.print(line, highlight=False, soft_wrap=True),
        )


@app.command("serve")
def serve_cmd(
    db: DbOption = DEFAULT_DB,
    config: Annotated[
        Path | None,
        typer.Option(help="Engine config (YAML or JSON); default: the store's live version."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind (loopback unless told).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port.")] = 8060,
    webhook: Annotated[
        str | None, typer.Option(help="POST delivered notifications to this URL, with retries.")
    ] = None,
    max_body_bytes: Annotated[
        int, typer.Option(help="Largest request body accepted (a 10,000-event batch fits).")
    ] = 8 << 20,
    allowed_lateness: Annotated[
        str,
        typer.Option(
            help="Decide events up to this far behind the latest decided one (in arrival "
            "order); older ones are stored but not decided."
        ),
    ] = "10s",
    max_skew: MaxSkewOption = "5m",
    read_timeout: Annotated[
        str, typer.Option(help="Cut off a client whose headers or body take longer than this.")
    ] = "10s",
) -> None:
    """The engine as an HTTP service: post events, get decisions, stream notifications.

    Write endpoints need a key from `pushlift keys create` (also while the service runs).
    The dashboard is served by the same process; read commands on the same store work
    meanwhile, on a copy the service makes within a second."""
    from pushlift.serve.server import run_service

    with user_errors():
        run_service(
            db,
            config=config,
            host=host,
            port=port,
            webhook=webhook,
            max_body=max_body_bytes,
            allowed_lateness=allowed_lateness,
            max_skew=max_skew,
            read_timeout=read_timeout,
            announce=lambda m: err.print(m, highlight=False),
        )


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what the key is for.")],
    scope: Annotated[str, typer.Option(help="write (events, config) or read.")] = "write",
    db: DbOption = DEFAULT_DB,
) -> None:
    """Create a key; it is printed once (only its hash is stored)."""
    from pushlift.serve.keys import create_key

    with user_errors():
        key = create_key(db, name, scope)  # type: ignore[arg-type]
    sys.stdout.write(key + "\n")


@keys_app.command("list")
def keys_list(db: DbOption = DEFAULT_DB) -> None:
    """Keys with their scope and state (never the secret)."""
    from pushlift.serve.keys import list_keys

    for k in list_keys(db):
        state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "valid"
        out.print(f"{k.key_id}  {k.scope:<5}  {state:<18}  {k.name}", highlight=False)


@keys_app.command("revoke")
def keys_revoke(key_id: str, db: DbOption = DEFAULT_DB) -> None:
    """Revoke a key by its id (the part after `pl_`); a running service refuses it at once."""
    from pushlift.serve.keys import revoke_key

    if not revoke_key(db, key_id):
        fail(f"no valid key with id {key_id!r}")
    out.print(f"revoked {key_id}")


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the reports and export.")] = (
        Path("out")
    ),
    db: DbOption = DEFAULT_DB,
    consumers: Annotated[int, typer.Option(help="Number of consumers.")] = 9032,
    city_subscribers: Annotated[
        int, typer.Option(help="Subscribers of the city run after the mall (0: no city).")
    ] = 2000,
    city_days: Annotated[int, typer.Option(help="Days of city life.")] = 2,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
) -> None:
    """Simulate the mall week and a city, store them, analyse them and write the reports.

    The mall's message and the city's offers are decided by the engine; the mall is
    analysed as a randomized experiment, the city with attribution and KPIs."""
    from pushlift.analysis.experiment import analyze_experiment
    from pushlift.analysis.mall import mall_spec
    from pushlift.analysis.results import to_jsonable
    from pushlift.report.html import write_report
    from pushlift.report.wording import conclusions
    from pushlift.sim import mall

    started = time.perf_counter()
    with user_errors(), steps("demo") as step:
        step(f"simulating {consumers:,} consumers over the week of 2019-10-01")
        model = mall.MallModel()
        week = mall.simulate_week(consumers, seed, model)
        step(f"writing {db}")
        out_dir.mkdir(parents=True, exist_ok=True)
        store = _fresh_demo_store(db)
        mall.write_week(store, week, model, replace=True)
        mall.export_tables(store, str(out_dir / "export"))
        result = analyze_experiment(
            store.con, mall_spec(store), seed=seed, progress=lambda m: step(f"analysing: {m}")
        )
        step("writing the report")
        report = write_report(result, out_dir / "report.html")
        (out_dir / "analysis.json").write_text(
            json.dumps(to_jsonable(result), indent=1, allow_nan=False) + "\n"
        )
        kpis = None
        if city_subscribers:
            from pushlift.analysis.kpis import kpi_report
            from pushlift.report.kpis import write_kpi_report
            from pushlift.sim.city import simulate_city

            step(f"simulating a city of {city_subscribers:,} subscribers for {city_days} days")
            simulate_city(store, city_subscribers, city_days, seed)
            step("attribution and KPIs")
            kpis = kpi_report(store)
            write_kpi_report(kpis, out_dir / "kpis.html")
            (out_dir / "kpis.json").write_text(
                json.dumps(kpis.to_dict(), indent=1, allow_nan=False) + "\n"
            )
        store.close()
    for line in conclusions(result)[2:5]:
        out.print(f"• {line}", highlight=False)
    if kpis is not None:
        from pushlift.report.numbers import fmt

        for row in kpis.breakdowns["experiment"]:
            if row.incremental_conversion is not None and row.conversion_rate is not None:
                # A difference of two rates is in percentage points; the rates say what it
                # is a difference of (per notification, not per consumer as above).
                held = row.conversion_rate - row.incremental_conversion
                out.print(
                    f"• {row.key}: per delivered notification, a purchase at the offer's "
                    f"vendor within {kpis.window_hours:g} h: {fmt(row.conversion_rate, 'share')} "
                    f"against {fmt(held, 'share')} held out, "
                    f"{fmt(row.incremental_conversion, 'pp')} (95% CI "
                    f"{fmt(row.incremental_conversion_ci_low, 'pp')} to "
                    f"{fmt(row.incremental_conversion_ci_high, 'pp')}) over "
                    f"{row.notifications:,} delivered",
                    highlight=False,
                )
    # The store is every command's default unless the demo was pointed elsewhere.
    where = "" if db == DEFAULT_DB and "PUSHLIFT_DB" not in os.environ else f" --db {db}"
    city = f"kpis:   {out_dir / 'kpis.html'}, {out_dir / 'kpis.json'}\n" if kpis is not None else ""
    out.print(
        f"\nstore:  {db}\nexport: {out_dir / 'export'}/consumer.csv, purchase.csv\n"
        f"json:   {out_dir / 'analysis.json'}\nreport: {report.resolve()}\n{city}"
        f"see it: .venv/bin/pushlift dashboard{where}  (or analyze kpis{where}, ...)\n"
        f"done in {time.perf_counter() - started:.1f} s"
    )


def _fresh_demo_store(db: Path) -> Store:
    """An empty store at `db` for the demo: a store the demo wrote before is replaced (the
    demo runs on fresh simulations); any other store is refused, never overwritten."""
    if db.exists():
        store = Store.open(db)
        try:
            foreign = store.con.execute(
                "SELECT (SELECT count(*) FROM experiment WHERE source <> 'simulated') + "
                "(SELECT count(*) FROM crm_import)"
            ).fetchall()[0][0]
        finally:
            store.close()
        if foreign:
            raise PushliftError(
                f"{db} holds imported data, so the demo will not replace it; pass --db with "
                "another path"
            )
        for leftover in (db, Path(f"{db}.wal"), ops.ops_path(db)):
            leftover.unlink(missing_ok=True)
    return Store.open(db)


def main() -> None:
    """The `pushlift` command. After a user error (exit 2: reported, stores closed) the
    process ends without running native libraries' exit-time destructors: under load one
    of them (a thread pool) sometimes aborted the process after the message was printed,
    turning exit code 2 into a crash."""
    try:
        app()
    except SystemExit as done:
        if done.code == 2:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(2)
        raise


if __name__ == "__main__":
    main()
