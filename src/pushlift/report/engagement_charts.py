"""Charts of the engagement report (inline SVG, drawn from the result's per-customer data)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from pushlift.analysis.engagement_results import EngagementResult
from pushlift.report.charts import PALETTE, to_svg

LABELS = ((1, "responded"), (0, "did not respond"))


def _arrays(r: EngagementResult) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ch = r.charts
    return (np.array(ch.responded), np.array(ch.n_messages, dtype=float),
            np.array(ch.net_spend), np.array(ch.propensity))


def box_plot(r: EngagementResult) -> str:
    t, _, y, _ = _arrays(r)
    fig, ax = plt.subplots(figsize=(6.4, 2.6))
    data = [y[t == g] for g, _ in LABELS]
    ax.boxplot(data, orientation="horizontal", tick_labels=[lab for _, lab in LABELS],
               showmeans=True, flierprops={"markersize": 2})
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlabel(f"net spend in the {r.primary_window} days after contact ($, symlog scale)")
    ax.spines[["top", "right"]].set_visible(False)
    return to_svg(fig)


def histogram(r: EngagementResult) -> str:
    t, _, y, _ = _arrays(r)
    top = float(np.quantile(y, 0.99)) or 1.0
    bins = np.linspace(0, top, 26)
    fig, ax = plt.subplots(figsize=(6.4, 2.6))
    for i, (g, label) in enumerate(LABELS):
        v = np.clip(y[t == g], None, top)
        ax.hist(v, bins=bins, weights=np.full(len(v), 1 / len(v)), histtype="step",
                color=PALETTE[i], label=label)
    ax.set_yscale("log")
    ax.set_xlabel(f"net spend, {r.primary_window} days ($; last bin: 99th percentile and above)")
    ax.set_ylabel("share of customers")
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return to_svg(fig)


def messages_scatter(r: EngagementResult) -> str:
    t, m, y, _ = _arrays(r)
    rng = np.random.default_rng(0)  # jitter only; fixed so the report is reproducible
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    for i, (g, label) in enumerate(LABELS):
        sel = t == g
        ax.scatter(m[sel] + rng.uniform(-0.25, 0.25, sel.sum()), y[sel], s=6, alpha=0.5,
                   color=PALETTE[i], label=label)
    slope, intercept = np.polyfit(m, y, 1)
    xs = np.array([m.min(), m.max()])
    ax.plot(xs, intercept + slope * xs, color="#333", lw=1,
            label=f"least-squares trend: {slope:+.2f} $ per message")
    ax.set_yscale("symlog", linthresh=10)
    ax.set_xlabel("messages in the first conversation")
    ax.set_ylabel(f"net spend, {r.primary_window} days ($)")
    ax.legend(frameon=False, fontsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    return to_svg(fig)


def propensity_histogram(r: EngagementResult) -> str:
    t, _, _, e = _arrays(r)
    bins = np.linspace(0, 1, 41)
    fig, ax = plt.subplots(figsize=(6.4, 2.6))
    for i, (g, label) in enumerate(LABELS):
        ax.hist(e[t == g], bins=bins, histtype="step", color=PALETTE[i], label=label)
    for x in (r.overlap.trim_low, r.overlap.trim_high):
        ax.axvline(x, color="#888", ls="--", lw=0.8)
    ax.set_xlabel("estimated propensity to respond (from pre-contact information)")
    ax.set_ylabel("customers")
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return to_svg(fig)
