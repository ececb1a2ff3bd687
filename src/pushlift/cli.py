"""The `pushlift` command: demo, simulate, import and analyze."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from pushlift.errors import PushliftError
from pushlift.store import DEFAULT_DB, Store

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

out = Console()
err = Console(stderr=True)

DbOption = Annotated[Path, typer.Option("--db", help="DuckDB store file.")]


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
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(2)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn input problems into one clear line and exit code 2, without a traceback."""
    try:
        yield
    except (PushliftError, ValueError, FileExistsError) as e:
        fail(str(e))


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
        store = Store.open(db)
        mall.write_week(store, week, model, replace=replace)
        paths = mall.export_tables(store, str(export)) if export else None
        store.close()
    out.print(
        f"simulated {consumers:,} consumers, {len(week.purchase['purchase_id']):,} "
        f"purchases into {db} (experiment {mall.EXPERIMENT_ID})"
    )
    if paths:
        out.print(f"export: {paths[0]}, {paths[1]}")


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
) -> None:
    """Import the mall operator's two-table export; nothing is written if anything is wrong."""
    from pushlift.ingest.mall import import_mall

    with user_errors():
        store = Store.open(db)
        summary = import_mall(store, consumer, purchase, experiment_id=experiment, replace=replace)
        store.close()
    out.print(
        f"imported {summary.consumers:,} consumers ({summary.treated:,} messaged, "
        f"{summary.control:,} control) into {db} as experiment {summary.experiment_id}"
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
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    report: Annotated[Path | None, typer.Option(help="Also write the HTML report here.")] = None,
) -> None:
    """Analyse a randomized experiment: effects, adjustment, heterogeneity, power, segments."""
    import duckdb

    from pushlift.analysis.experiment import analyze_experiment
    from pushlift.analysis.results import to_jsonable

    if not 0 < alpha < 0.5:
        fail("--alpha must be between 0 and 0.5")
    with user_errors(), steps("analyze experiment") as step:
        if table is not None:
            from pushlift.ingest.table import table_spec

            if not arm or control is None:
                fail("--table needs --arm and --control")
            con = duckdb.connect()
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
            )
        else:
            from pushlift.analysis.mall import mall_spec

            if not db.exists():
                fail(
                    f"no store at {db}; run `pushlift simulate mall` or `pushlift import mall`"
                    " first, or pass --table"
                )
            store = Store.open(db)
            con = store.con
            spec = mall_spec(store, experiment)
        result = analyze_experiment(con, spec, alpha=alpha, seed=seed, progress=step)
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


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the store and report.")] = (
        Path("out")
    ),
    consumers: Annotated[int, typer.Option(help="Number of consumers.")] = 9032,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
) -> None:
    """Simulate the mall week, store it, analyse it and write the HTML report."""
    from pushlift.analysis.experiment import analyze_experiment
    from pushlift.analysis.mall import mall_spec
    from pushlift.analysis.results import to_jsonable
    from pushlift.report.html import write_report
    from pushlift.report.wording import conclusions
    from pushlift.sim import mall

    started = time.perf_counter()
    db = out_dir / "pushlift.duckdb"
    with user_errors(), steps("demo") as step:
        step(f"simulating {consumers:,} consumers over the week of 2019-10-01")
        model = mall.MallModel()
        week = mall.simulate_week(consumers, seed, model)
        step(f"writing {db}")
        store = Store.open(db)
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
        store.close()
    for line in conclusions(result)[2:5]:
        out.print(f"• {line}", highlight=False)
    out.print(
        f"\nstore:  {db}\nexport: {out_dir / 'export'}/consumer.csv, purchase.csv\n"
        f"json:   {out_dir / 'analysis.json'}\nreport: {report.resolve()}\n"
        f"done in {time.perf_counter() - started:.1f} s"
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
