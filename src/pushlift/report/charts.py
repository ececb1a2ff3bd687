"""Charts as inline SVG (text drawn as paths), so the report is one file that opens offline."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pushlift.analysis.results import ExperimentResult, SubgroupEffect  # noqa: E402

PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")
# Labels carry the user's names (arms, segments, columns): text, never mathtext ($...$),
# which would render a name differently or fail on one like '$\x$'.
plt.rcParams.update(
    {"svg.fonttype": "path", "svg.hashsalt": "pushlift", "font.size": 9, "text.parse_math": False}
)


def to_svg(fig: plt.Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def distribution_chart(result: ExperimentResult, outcome: str) -> str | None:
    """Share of units per bin, one line per arm (the last bin holds the top 1%)."""
    shares = result.descriptives.histograms.get(outcome)
    edges = result.descriptives.histogram_edges.get(outcome)
    if not shares or not edges:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    centers = (np.array(edges[:-1]) + np.array(edges[1:])) / 2
    for i, (arm, s) in enumerate(shares.items()):
        ax.step(centers, s, where="mid", color=PALETTE[i % len(PALETTE)], label=arm)
    ax.set_yscale("log")
    ax.set_xlabel(f"{outcome} (last bin: 99th percentile and above)")
    ax.set_ylabel("share of units (log scale)")
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return to_svg(fig)


def forest_plot(
    result: ExperimentResult, outcome: str, effects: list[SubgroupEffect], title: str
) -> str | None:
    """Subgroup effects with their confidence intervals, around the overall effect."""
    rows = [e for e in effects if e.outcome == outcome and e.effect.error is None]
    overall = next(
        (c for r in result.outcomes if r.outcome == outcome for c in r.comparisons), None
    )
    if not rows or overall is None:
        return None
    labels = [
        f"{e.segment} = {e.value}" + (f" ({e.arm})" if len(result.arms) > 2 else "") for e in rows
    ]
    est = np.array([e.effect.estimate for e in rows])
    lo = np.array([e.effect.ci_low for e in rows])
    hi = np.array([e.effect.ci_high for e in rows])
    fig, ax = plt.subplots(figsize=(6.4, 0.32 * len(rows) + 1.1))
    y = np.arange(len(rows))[::-1]
    ax.errorbar(
        est,
        y,
        xerr=[est - lo, hi - est],
        fmt="o",
        color=PALETTE[0],
        capsize=2,
        label=f"estimate, {(1 - result.alpha) * 100:g}% CI",
    )
    truth = [e.true_effect for e in rows]
    if all(t is not None for t in truth):
        ax.scatter(truth, y, marker="x", color=PALETTE[3], zorder=3, label="simulation truth")
    ax.axvline(0, color="#444", lw=0.8)
    ax.axvline(overall.absolute.estimate, color=PALETTE[1], lw=0.8, ls="--", label="overall effect")
    ax.set_yticks(y, labels)
    ax.set_xlabel(f"effect on {outcome} ({title})")
    ax.legend(frameon=False, fontsize=7, loc="best")
    ax.spines[["top", "right"]].set_visible(False)
    return to_svg(fig)


def cluster_scatter(result: ExperimentResult) -> str | None:
    """The fitted segments on the first covariate and the first outcome (a sample)."""
    seg = result.segmentation
    if seg is None:
        return None
    x_name = seg.features[0]
    y_name = result.outcomes[0].outcome
    x = np.array(seg.sample[x_name])
    y = np.array(seg.sample[y_name])
    c = np.array(seg.sample["cluster"]).astype(int)
    rng = np.random.default_rng(0)
    jitter = rng.uniform(-0.3, 0.3, len(x)) if np.allclose(x, np.round(x)) else 0
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    for k in range(1, seg.k + 1):
        m = c == k
        ax.scatter(
            x[m] + (jitter[m] if isinstance(jitter, np.ndarray) else 0),
            y[m],
            s=6,
            alpha=0.6,
            color=PALETTE[(k - 1) % len(PALETTE)],
            label=f"segment {k}",
        )
    if np.nanmax(y) > 0 and np.nanmin(y) >= 0:
        ax.set_yscale("symlog", linthresh=10)
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    ax.legend(frameon=False, fontsize=7, ncol=min(seg.k, 4), markerscale=2)
    ax.spines[["top", "right"]].set_visible(False)
    return to_svg(fig)


def silhouette_chart(result: ExperimentResult) -> str | None:
    seg = result.segmentation
    if seg is None or not seg.scores:
        return None
    ks = sorted(seg.scores)
    fig, ax = plt.subplots(figsize=(3.2, 2.2))
    ax.plot(ks, [seg.scores[k] for k in ks], "o-", color=PALETTE[0])
    ax.axvline(seg.k, color=PALETTE[1], ls="--", lw=0.8)
    ax.set_xlabel("k")
    ax.set_ylabel("mean silhouette")
    ax.spines[["top", "right"]].set_visible(False)
    return to_svg(fig)
