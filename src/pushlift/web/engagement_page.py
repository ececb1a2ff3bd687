"""The engagement page: CRM customers after contact, responders vs not, adjusted."""

from __future__ import annotations

from typing import Any

from pushlift.analysis.results import to_jsonable
from pushlift.errors import PushliftError
from pushlift.store import Store
from pushlift.web.db import Database

CRM_PARTS = ("crm", "crm_lines")
NO_CRM = (
    "No CRM dataset in this store yet: run `pushlift import crm --sales sales.csv "
    "--messages outbound.csv` (or `pushlift simulate engagement` to make a synthetic pair)."
)


def _analyse(s: Store, dataset_id: str) -> dict[str, Any]:
    from pushlift.analysis.engagement import analyze_engagement

    r = analyze_engagement(s.con, dataset_id=dataset_id)
    return {
        "dataset_id": dataset_id,
        "customers": r.flow.customers,
        "responders": r.flow.responders,
        "contacted_phones": r.flow.contacted_phones,
        "primary_window": r.primary_window,
        "definitions": r.definitions,
        "statements": list(r.statements),
        "groups": [
            {
                "group": g.group,
                "window": g.window,
                "n": g.n,
                "mean_net_spend": g.mean_net_spend,
                "share_buying": g.share_buying,
                "mean_purchases": g.mean_purchases,
            }
            for g in r.groups
        ],
        "comparisons": [
            {
                "outcome": a.outcome,
                "window": a.window,
                "method": method,
                # purchases are a count per customer; net spend is in dollars
                "unit": "dollars" if a.outcome == "net_spend" else "ratio",
                "effect": e.estimate,
                "ci_low": e.ci_low,
                "ci_high": e.ci_high,
                "p_value": e.p_value,
            }
            for a in r.adjusted
            for method, e in (
                ("difference in means", a.unadjusted),
                ("regression adjusted", a.regression_adjusted),
                ("inverse propensity weighted", a.ipw.effect),
            )
        ],
        "time_to_purchase": [
            {"group": t.group, "n": t.n, "buyers": t.buyers, "median_days": t.median_days}
            for t in r.time_to_purchase
        ],
        "power": {
            "outcome": r.power.outcome,
            "window": r.power.window,
            "mde_absolute": r.power.mde_absolute,
            "customers": r.power.customers,
        },
    }


def engagement(db: Database, params: dict[str, str]) -> dict[str, Any]:
    """The engagement analysis of one CRM dataset (cached until the CRM data change)."""
    page: dict[str, Any] = {"title": "Engagement (CRM)"}
    with db.reader() as s:
        ids = [
            r[0] for r in s.con.execute("SELECT dataset_id FROM crm_import ORDER BY 1").fetchall()
        ]
    if not ids:
        return page | {"empty": NO_CRM, "datasets": []}
    chosen = params.get("dataset") or ("crm" if "crm" in ids else ids[0])
    if chosen not in ids:
        raise PushliftError(f"no CRM dataset {chosen!r}; the store has {', '.join(ids)}")
    version = db.version(CRM_PARTS)
    try:
        result = db.cached(
            f"engagement:{chosen}", version, lambda s: to_jsonable(_analyse(s, chosen))
        )
    except PushliftError as e:  # e.g. too few customers to compare: say so on the page
        return page | {
            "empty": f"No engagement analysis for dataset {chosen!r}: {e}",
            "datasets": ids,
        }
    return page | {"empty": None, "datasets": ids} | result
