"""Customer segments: k-means on standardized pre-treatment covariates.

Only covariates measured before the message are used, so a segment is fixed before
treatment and the effect within it is still a randomized comparison. (Clustering on the
outcome, e.g. on sales, would mix the treatment's effect into the segments.) The number of
clusters is the k in 2..8 with the highest mean silhouette on a sample. Centroids are
fitted on a sample; every unit is then assigned to its nearest centroid in SQL.
"""

from __future__ import annotations

import duckdb
import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

from pushlift.analysis.results import ClusterProfile, Segmentation
from pushlift.analysis.spec import ExperimentSpec
from pushlift.analysis.sql import ident, literal

FIT_SAMPLE = 20_000
SILHOUETTE_SAMPLE = 3_000
SCATTER_SAMPLE = 1_500
K_RANGE = range(2, 9)


def labelled_relation(
    relation: str, exprs: list[str], means: np.ndarray, sds: np.ndarray, centroids: np.ndarray
) -> str:
    """`relation` plus a column `_cluster` ('1'..'k'): each unit's nearest centroid.

    Distances are named once in an inner query so the CASE compares columns, not formulas.
    """
    z = [
        f"(({e}) - {literal(m)}) / {literal(s)}" for e, m, s in zip(exprs, means, sds, strict=True)
    ]
    dist = ", ".join(
        " + ".join(f"POWER({zi} - {literal(c)}, 2)" for zi, c in zip(z, centroid, strict=True))
        + f" AS _d{i}"
        for i, centroid in enumerate(centroids)
    )
    k = len(centroids)
    whens = []
    for i in range(k - 1):
        # Earlier clusters were already excluded, so comparing with later ones suffices.
        others = " AND ".join(f"_d{i} <= _d{j}" for j in range(i + 1, k))
        whens.append(f"WHEN {others} THEN '{i + 1}'")
    label = "CASE " + " ".join(whens) + f" ELSE '{k}' END"
    return f"(SELECT *, {label} AS _cluster FROM (SELECT *, {dist} FROM {relation} AS _u) AS _dd)"


def segment_customers(
    con: duckdb.DuckDBPyConnection, spec: ExperimentSpec, seed: int = 0
) -> tuple[Segmentation, str] | None:
    """Fit the segmentation; returns it and `spec.relation` with a `_cluster` column."""
    terms = [t for c in spec.covariates for t in c.terms]
    if not terms:
        return None
    names = [n for n, _ in terms]
    exprs = [f"CAST({e} AS DOUBLE)" for _, e in terms]
    complete = " AND ".join(f"{e} IS NOT NULL" for e in exprs)
    stats_row = con.execute(
        f"SELECT COUNT(*), {', '.join(f'AVG({e}), STDDEV_SAMP({e})' for e in exprs)} "
        f"FROM {spec.relation} AS _u WHERE {complete}"
    ).fetchall()[0]
    n = int(stats_row[0])
    means = np.array([np.nan if v is None else v for v in stats_row[1::2]], dtype=float)
    sds = np.array([np.nan if v is None else v for v in stats_row[2::2]], dtype=float)
    # A constant covariate cannot separate anyone: cluster on the others, and say so.
    varies = [bool(s > 0) for s in sds]
    notes = tuple(
        f"Covariate '{name}' is the same for every unit, so it is not used for the segments."
        for name, ok in zip(names, varies, strict=True)
        if not ok
    )
    if n < 50 or not any(varies):
        return None
    names = [x for x, ok in zip(names, varies, strict=True) if ok]
    exprs = [x for x, ok in zip(exprs, varies, strict=True) if ok]
    complete = " AND ".join(f"{e} IS NOT NULL" for e in exprs)
    means, sds = means[varies], sds[varies]
    first_outcome = spec.outcomes[0]
    y = f"CAST({ident(first_outcome.column)} AS DOUBLE)"
    # DuckDB's reservoir sample is the one engine-specific clause here; it is seeded.
    rows = con.execute(
        f"SELECT {', '.join(exprs)}, {y} FROM (SELECT * FROM {spec.relation} AS _u "
        f"WHERE {complete}) AS _s USING SAMPLE reservoir({FIT_SAMPLE} ROWS) REPEATABLE ({seed})"
    ).fetchall()
    data = np.array([r[:-1] for r in rows], dtype=float)
    outcome = np.array([np.nan if r[-1] is None else r[-1] for r in rows], dtype=float)
    z = (data - means) / sds
    rng = np.random.default_rng(seed)
    sil_idx = rng.choice(len(z), size=min(SILHOUETTE_SAMPLE, len(z)), replace=False)
    scores: dict[int, float] = {}
    models: dict[int, KMeans] = {}
    distinct = len(np.unique(z, axis=0))
    # One thread: on a 20,000-row sample the OpenMP and BLAS pools' threads only contend
    # with each other and with DuckDB's (measured in benchmarks/segment_threads.py).
    with threadpool_limits(limits=1):
        for k in K_RANGE:
            if k >= distinct:
                break
            km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(z)
            labels = km.labels_[sil_idx]
            if len(set(labels)) < 2:
                continue
            scores[k] = float(silhouette_score(z[sil_idx], labels))
            models[k] = km
    if not scores:
        return None
    best = max(scores, key=lambda k: (scores[k], -k))
    # Order clusters by size (largest first) so labels are stable and readable.
    km = models[best]
    order = np.argsort(-np.bincount(km.labels_, minlength=best), kind="stable")
    centroids = km.cluster_centers_[order]
    labelled = labelled_relation(
        f"(SELECT * FROM {spec.relation} AS _v WHERE {complete})", exprs, means, sds, centroids
    )

    profile_rows = con.execute(
        f"SELECT _cluster, COUNT(*), {', '.join(f'AVG({e})' for e in exprs)} "
        f"FROM {labelled} AS _c GROUP BY _cluster ORDER BY _cluster"
    ).fetchall()
    profiles = tuple(
        ClusterProfile(
            cluster=str(r[0]),
            n=int(r[1]),
            share=int(r[1]) / n,
            means={name: float(v) for name, v in zip(names, r[2:], strict=True)},
        )
        for r in profile_rows
    )
    relabel = np.empty(best, dtype=int)
    relabel[order] = np.arange(best)
    sample_labels = relabel[km.labels_]
    show = rng.choice(len(z), size=min(SCATTER_SAMPLE, len(z)), replace=False)
    sample = {name: data[show, i].tolist() for i, name in enumerate(names)}
    sample[first_outcome.name] = outcome[show].tolist()
    sample["cluster"] = (sample_labels[show] + 1).astype(float).tolist()
    segmentation = Segmentation(
        features=tuple(names),
        k=best,
        criterion=f"mean silhouette on a sample of {len(sil_idx)} units, k = 2..8",
        scores=scores,
        profiles=profiles,
        centroids_standardized=tuple(tuple(float(v) for v in c) for c in centroids),
        sample=sample,
        notes=notes,
    )
    return segmentation, labelled
