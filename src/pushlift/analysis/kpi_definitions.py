"""Every KPI's name, label, unit and one-line definition (shown in the docs and the dashboard)."""

from __future__ import annotations

DEFINITIONS: dict[str, str] = {
    "notifications": "Notifications delivered (held-out 'would have sent' records excluded).",
    "held_out": "Would-have-sent records of holdout subscribers: the comparison group.",
    "reach": "Distinct subscribers who were delivered at least one notification.",
    "conversions": "Delivered notifications credited with at least one purchase "
    "(at the offer's vendor, after the notification, within the window; each purchase "
    "credited once).",
    "conversion_rate": "Conversions / delivered notifications (interval clustered by subscriber).",
    "holdout_conversion_rate": "The same rate for held-out records: conversion without "
    "the message.",
    "incremental_conversion": "Conversion rate of delivered minus held-out notifications "
    "of the same experiment: the share of notifications that caused a conversion.",
    "incremental_conversions": "Incremental conversion x delivered notifications: "
    "conversions the messages caused.",
    "revenue_cents": "Revenue of the purchases credited to delivered notifications.",
    "incremental_revenue_cents": "Revenue per delivered notification minus per held-out "
    "record, times delivered notifications: revenue the messages caused.",
    "spend_cents": "Sum of the prices paid for delivered notifications.",
    "cost_per_incremental_conversion_cents": "Spend / incremental conversions (blank when "
    "the messages caused no conversions).",
    "roas": "Return on ad spend: credited revenue / spend.",
    "incremental_roas": "Incremental revenue / spend: revenue caused per cent spent.",
    "fill_rate": "Notified events (delivered or held out) / events that matched at least "
    "one offer.",
    "retention_rate": "Share of notified subscribers who buy anything in the days after "
    "the day of their first notification (the retention period).",
    "holdout_retention_rate": "The same share for holdout subscribers.",
    "vendor_success_rate": "Share of vendors with at least one conversion.",
    "vendor_lift_rate": "Share of vendors with a significant positive incremental "
    "conversion (Benjamini-Hochberg adjusted p < 0.05 across vendors).",
}

UNITS = {
    "conversion_rate": "share",
    "holdout_conversion_rate": "share",
    "incremental_conversion": "share",
    "revenue_cents": "cents",
    "incremental_revenue_cents": "cents",
    "spend_cents": "cents",
    "cost_per_incremental_conversion_cents": "cents",
    "roas": "ratio",
    "incremental_roas": "ratio",
    "fill_rate": "share",
    "retention_rate": "share",
    "holdout_retention_rate": "share",
    "vendor_success_rate": "share",
    "vendor_lift_rate": "share",
}

LABELS = {
    "notifications": "Notifications sent",
    "held_out": "Held out (would have sent)",
    "reach": "Reach",
    "conversions": "Conversions",
    "conversion_rate": "Conversion rate",
    "holdout_conversion_rate": "Holdout conversion rate",
    "incremental_conversion": "Incremental conversion",
    "incremental_conversions": "Incremental conversions",
    "revenue_cents": "Revenue",
    "incremental_revenue_cents": "Incremental revenue",
    "spend_cents": "Spend",
    "cost_per_incremental_conversion_cents": "Cost per incremental conversion",
    "roas": "ROAS",
    "incremental_roas": "Incremental ROAS",
    "fill_rate": "Fill rate",
    "retention_rate": "Retention rate",
    "holdout_retention_rate": "Holdout retention rate",
    "vendor_success_rate": "Vendor success rate",
    "vendor_lift_rate": "Vendors with significant lift",
}
