"""The mall experiment as an ExperimentSpec over the `mall_units` view."""

from __future__ import annotations

import json
from dataclasses import replace

from pushlift.analysis.spec import Covariate, ExperimentSpec, Outcome
from pushlift.analysis.sql import text
from pushlift.errors import PushliftError
from pushlift.store import Store

MALL_OUTCOMES = (
    Outcome(
        "from_second_store_sales",
        "from_second_store_sales",
        "mean",
        label="Sales from the second store onwards ($ per consumer)",
    ),
    Outcome(
        "made_second_purchase",
        "made_second_purchase",
        "proportion",
        label="Made a second-store purchase (share of consumers)",
    ),
    Outcome(
        "sales_per_returning_buyer",
        "from_second_store_sales",
        "ratio",
        denominator="made_second_purchase",
        label="Sales among those who bought again ($ per returning buyer)",
        note=(
            "Sales among those who bought again compares different people in each arm: the "
            "message changes who buys again, so this ratio mixes the effect on spend with "
            "the effect on who returns. Read it as a description, not as the causal effect "
            "on a buyer's spend."
        ),
    ),
)

MALL_COVARIATES = (
    Covariate("age", (("age", "age"),)),
    Covariate("gender", (("female", "female"),)),
    Covariate("loyalty", (("high_loyalty", "high_loyalty"),)),
)


# The same metrics before the experiment (`--pre-period`): CUPED's covariates.
PRE_PERIOD_COVARIATES = (
    Covariate("pre-period sales", (("pre_period_sales", "pre_from_second_store_sales"),)),
    Covariate("pre-period second purchase", (("pre_period_second", "pre_made_second_purchase"),)),
)


def mall_spec(
    store: Store, experiment_id: str | None = None, pre_period_days: int | None = None
) -> ExperimentSpec:
    """The spec for a mall experiment in the store (the only one, if not named).
    `pre_period_days`: also adjust for the same outcomes in that many days before the
    experiment (from `mall_history`): CUPED through the regression adjustment."""
    ids = [
        r[0]
        for r in store.con.execute(
            "SELECT DISTINCT experiment_id FROM mall_outcome ORDER BY 1"
        ).fetchall()
    ]
    if not ids:
        raise PushliftError(
            "the store holds no mall experiment: run `pushlift simulate mall` or "
            "`pushlift import mall consumer.csv purchase.csv` first"
        )
    if experiment_id is None:
        if len(ids) > 1:
            raise PushliftError(
                f"the store holds several mall experiments ({', '.join(ids)}); "
                "choose one with --experiment"
            )
        experiment_id = ids[0]
    elif experiment_id not in ids:
        raise PushliftError(f"no mall experiment {experiment_id!r}; the store has {', '.join(ids)}")
    row = store.con.execute(
        "SELECT control_arm, arms, weights, description, source FROM experiment "
        "WHERE experiment_id = ?",
        [experiment_id],
    ).fetchall()[0]
    control, arms, weights, description, source = row
    truth = {
        (o, s, v): t1 - t0
        for o, s, v, t0, t1 in store.con.execute(
            "SELECT outcome, segment, segment_value, control_mean, treatment_mean "
            "FROM true_effect WHERE experiment_id = ?",
            [experiment_id],
        ).fetchall()
    }
    unit_relation = (
        f"(SELECT * FROM mall_units WHERE experiment_id = {text(experiment_id)} "
        "ORDER BY consumer_id)"
    )
    spec = ExperimentSpec(
        # Ordered, so float sums see the same rows in the same order whatever else the store
        # holds (the join order of the view depends on the sizes of the tables).
        relation=unit_relation,
        arm="arm",
        control=control,
        arms=tuple(arms),
        outcomes=MALL_OUTCOMES,
        covariates=MALL_COVARIATES,
        segments=("loyalty", "gender", "age_band"),
        weights=tuple(weights),
        title=f"Mall experiment {experiment_id}: {description}",
        source=source,
        truth=truth,
    )
    spec = _as_imported(store, spec, experiment_id)
    if pre_period_days is not None:
        spec = _with_pre_period(store, spec, experiment_id, pre_period_days)
    return spec


def _with_pre_period(
    store: Store, spec: ExperimentSpec, experiment_id: str, days: int
) -> ExperimentSpec:
    """Each consumer's second-store sales and second-store purchase in the `days` before
    the experiment's first day, as covariates; an error when the store has no history."""
    start = (
        "(SELECT date_trunc('day', min(event_time)) FROM purchase "
        f"WHERE experiment_id = {text(experiment_id)})"
    )
    window = (
        f"experiment_id = {text(experiment_id)} AND event_time < {start} "
        f"AND event_time >= {start} - INTERVAL {int(days)} DAY"
    )
    found, first = store.con.execute(
        f"SELECT count(*), CAST(min(event_time) AS VARCHAR) FROM mall_history WHERE {window}"
    ).fetchall()[0]
    if not found:
        raise PushliftError(
            f"--pre-period: the store holds no purchases of experiment {experiment_id!r} in the "
            f"{days} days before it started (`pushlift simulate mall` writes a week of "
            "history; an import does not carry one). With --table, name a pre-period "
            "column with --covariate instead."
        )
    relation = (
        "(SELECT _u.*, coalesce(_h.sales, 0) AS pre_from_second_store_sales, "
        "CAST(coalesce(_h.sales, 0) > 0 AS INTEGER) AS pre_made_second_purchase "
        f"FROM {spec.relation} AS _u LEFT JOIN ("
        "SELECT consumer_id, coalesce(sum(amount_cents) FILTER (WHERE store_seq >= 2), 0) "
        f"/ 100.0 AS sales FROM mall_history WHERE {window} GROUP BY consumer_id) AS _h "
        "ON _h.consumer_id = _u.consumer_id ORDER BY _u.consumer_id)"
    )
    note = (
        f"Pre-period (CUPED): each consumer's sales from the second store onwards, and whether "
        f"they bought at a second store, in the {days} days before the experiment ({found:,} "
        f"purchases from {first[:10]}; no message was sent then) adjust the effects below."
    )
    return replace(
        spec,
        relation=relation,
        covariates=(*spec.covariates, *PRE_PERIOD_COVARIATES),
        data_notes=(*spec.data_notes, note),
    )


def _as_imported(store: Store, spec: ExperimentSpec, experiment_id: str) -> ExperimentSpec:
    """The spec as the import allows: its notes on rows set aside, and for a purchase file
    that listed only buyers, what can be analysed (nothing, or with --assigned the overall
    effects with every unlisted consumer counted as a non-buyer)."""
    rows = store.con.execute(
        "SELECT mode, report_json FROM mall_import WHERE experiment_id = ?", [experiment_id]
    ).fetchall()
    if not rows:
        return spec  # simulated, or imported before imports kept their report
    mode, report_json = rows[0]
    stored = json.loads(report_json)
    spec = replace(spec, data_notes=tuple(stored.get("analysis_notes", ())))
    if mode == "complete":
        return spec
    buyers = stored["report"]["buyers_only"]
    if mode == "buyers-only":
        described = ", ".join(
            f"{arm} ${buyers['mean_sales'][arm]:,.2f} ({buyers['buyers'][arm]:,} buyers)"
            for arm in buyers["buyers"]
        )
        raise PushliftError(
            f"experiment {experiment_id!r} was imported from a purchase file that lists only "
            "buyers: the arm of every other consumer is unknown, so the share who bought "
            "again and sales per consumer cannot be estimated from the files alone. They "
            f"support only a description of the buyers' sales: {described} (not an effect: "
            "the message changes who buys again). If you know the planned arm sizes, import "
            "again with --replace --assigned N_TREATED,N_CONTROL."
        )
    zeros = " UNION ALL ".join(
        f"SELECT {text(arm)} AS arm, NULL AS consumer_id, CAST(0 AS DOUBLE) AS "
        f"from_second_store_sales, 0 AS made_second_purchase FROM generate_series(1, {int(n)})"
        for arm, n in buyers["non_buyers"].items()
    )
    return replace(
        spec,
        # The buyers, and each arm's non-buyers as units with no sales (and no covariates).
        relation=(
            "(SELECT * FROM (SELECT arm, consumer_id, from_second_store_sales, "
            f"made_second_purchase FROM {spec.relation} AS _b UNION ALL {zeros}) AS _u "
            "ORDER BY arm, consumer_id NULLS LAST)"
        ),
        covariates=(),
        segments=(),
    )
