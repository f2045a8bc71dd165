"""Honest evaluation of the risk model, side by side with the rule sets, and its card.

Why these measures: a lipid clinic has a fixed number of referral slots, so the question
is how many carriers each way of choosing fills them with (carriers found and PPV at a
fixed capacity per 100,000 adults), not only ROC AUC. Every number here comes from
predictions for people whose whole family was held out of training (or from a region the
model never saw). Labels in real data are genetic test results, which only a biased few
have; the synthetic truth (who really carries FH) shows what that bias does.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import polars as pl
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

CAPACITIES = (50, 100, 200)  # referrals per 100,000 adults (issue 4, clinic workloads)
PLOT_CAPACITIES = (10, 25, 50, 75, 100, 150, 200, 300)

# The order of the run's referral list (sql/outputs/referral_list.sql, without the backlog,
# which a single run does not have): urgent first, then high, then by probability, then
# by the untreated-LDL estimate. tests/test_model_eval.py checks it against the SQL.
LIST_ORDER = [pl.col("priority_tier") == "urgent", pl.col("priority_tier") == "high",
              pl.col("probability"), pl.col("index_untreated_ldl")]

# How each way of choosing ranks the referable people (no exclusion, or urgent). The run's
# list chooses only the people the run refers (`priority_tier` set); the simple rankings a
# clinician could use choose among everyone referable, by their own strength.
RANKINGS: dict[str, tuple[pl.Expr | None, list[pl.Expr]]] = {
    "the run's list": (pl.col("priority_tier").is_not_null(), LIST_ORDER),
    "model probability": (None, [pl.col("probability")]),
    "DLCN points, then untreated LDL": (None, [pl.col("dlcn_points"),
                                               pl.col("index_untreated_ldl")]),
    "highest LDL measured off treatment": (None, [pl.col("max_off_treatment_ldl")]),
    "untreated-LDL estimate": (None, [pl.col("index_untreated_ldl")]),
}
# The rankings a clinician could use without the model: the list must beat the best.
SIMPLE_RANKINGS = ("DLCN points, then untreated LDL", "highest LDL measured off treatment")
# For scale only, where the synthetic truth has it: a ranking nobody can compute.
ORACLE = "(out of reach) true untreated LDL"


def scores(y: np.ndarray, p: np.ndarray) -> dict[str, float | int | None]:
    """ROC AUC, average precision, Brier score, calibration error, mean predicted and the
    observed rate; None where a class is missing."""
    y = np.asarray(y, dtype=int)
    both = 0 < y.sum() < len(y)
    return {
        "n": int(len(y)), "positives": int(y.sum()),
        "roc_auc": round(float(roc_auc_score(y, p)), 4) if both else None,
        "average_precision": round(float(average_precision_score(y, p)), 4) if both else None,
        "brier": round(float(brier_score_loss(y, p)), 6) if len(y) else None,
        "calibration_error": round(calibration_error(y, p), 6) if len(y) else None,
        "mean_predicted": round(float(np.mean(p)), 6) if len(y) else None,
        "observed_rate": round(float(np.mean(y)), 6) if len(y) else None,
    }


def calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: the people-weighted mean |mean predicted - observed
    rate| over `bins` bins of equal width in probability (0-0.1, ..., 0.9-1). Equal-width
    bins, because quantile bins put nearly everyone in bins where both are near zero."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            total += sel.sum() * abs(p[sel].mean() - y[sel].mean())
    return float(total / len(y))


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict[str, list[float]]:
    """Observed rate vs mean predicted probability in quantile bins of the prediction."""
    observed, predicted = calibration_curve(y, p, n_bins=bins, strategy="quantile")
    return {"predicted": [round(float(v), 5) for v in predicted],
            "observed": [round(float(v), 5) for v in observed]}


def capacity_table(frame: pl.DataFrame, adults: int, capacities=CAPACITIES,
                   outcome: str = "truth") -> list[dict[str, Any]]:
    """Carriers found and PPV when each ranking fills `capacity` slots per 100,000 adults.

    `frame` holds the referable people with the columns RANKINGS use, `probability`,
    `priority_tier` and the outcome column. A rule set that flags fewer people than the
    slots refers only those (its `referred` is then below the capacity)."""
    rows = []
    rankings = dict(RANKINGS)
    if "true_untreated_ldl" in frame.columns:
        rankings[ORACLE] = (None, [pl.col("true_untreated_ldl")])
    for capacity in capacities:
        slots = max(1, round(capacity * adults / 100_000))
        for name, (eligible, keys) in rankings.items():
            pool = frame if eligible is None else frame.filter(eligible)
            chosen = pool.sort(keys, descending=True, nulls_last=True,
                               maintain_order=True).head(slots)
            found = int(chosen[outcome].sum())
            rows.append({"capacity_per_100k": capacity, "slots": slots, "ranking": name,
                         "referred": chosen.height, "carriers_found": found,
                         "ppv": round(found / chosen.height, 3) if chosen.height else None})
    return rows


def capacity_markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| capacity / 100k adults | slots | ranking | referred | carriers found | PPV |",
             "|---:|---:|---|---:|---:|---:|"]
    for r in rows:
        ppv = "-" if r["ppv"] is None else f"{r['ppv']:.2f}"
        lines.append(f"| {r['capacity_per_100k']} | {r['slots']} | {r['ranking']} | "
                     f"{r['referred']} | {r['carriers_found']} | {ppv} |")
    return "\n".join(lines)


def plot_png(evaluation: dict[str, Any]) -> tuple[bytes, bytes]:
    """calibration.png (reliability vs labels and vs truth) and capacity.png (carriers
    found vs capacity for the model and each rule set)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=110)
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect")
    for name, curve in evaluation["reliability"].items():
        ax.plot(curve["predicted"], curve["observed"], marker="o", label=name)
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_yscale("symlog", linthresh=0.01)
    cal = _finish(fig, ax, "mean predicted probability (decile of prediction)",
                  "observed rate", f"Calibration, held-out {evaluation['held_out']}")

    fig, ax = plt.subplots(figsize=(6.5, 4.5), dpi=110)
    curve = evaluation.get("capacity_curve") or []
    for name in dict.fromkeys(r["ranking"] for r in curve):
        pts = [r for r in curve if r["ranking"] == name]
        ax.plot([r["capacity_per_100k"] for r in pts], [r["carriers_found"] for r in pts],
                marker="o", label=name)
    cap = _finish(fig, ax, "referral capacity per 100,000 adults",
                  "true carriers found (synthetic truth)",
                  f"Carriers found at each clinic capacity, held-out {evaluation['held_out']}")
    return cal, cap


def _finish(fig: Any, ax: Any, xlabel: str, ylabel: str, title: str) -> bytes:
    """Label, lay out and render a figure to PNG bytes (no timestamp: reproducible)."""
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", metadata={"Software": None})
    plt.close(fig)
    return out.getvalue()


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join("-" if r.get(c) is None else str(r.get(c))
                                       for c in columns) + " |")
    return "\n".join(lines)


METRIC_COLUMNS = ["model", "outcome", "n", "positives", "roc_auc", "average_precision",
                  "brier", "calibration_error", "mean_predicted", "observed_rate"]


def card_markdown(card: dict[str, Any]) -> str:
    """The model card for people: what it was trained on, how it was measured, limits."""
    ev = card["evaluation"]
    held = ev["held_out"]
    # Sorted: the JSON card is written with sorted keys, and the Markdown must read the same
    # whether it is rendered from the trained card or from the JSON loaded back.
    candidates = [{"model": name, "outcome": outcome, **m}
                  for name, by in sorted(ev["candidates"].items())
                  for outcome, m in sorted(by.items())]
    per_part = [{"model": r["held_out"], "outcome": outcome, **m}
                for r in ev["per_held_out"] for outcome, m in sorted(r.items())
                if outcome != "held_out"]
    td = card["training_data"]
    parts = [
        f"# Model card: {card['version']}",
        "",
        f"**Intended use.** {card['intended_use']}",
        "",
        f"**Model.** {card['selected']['kind']} (scikit-learn {card['sklearn_version']}), "
        f"calibrated with {card['calibration']}; {card['members']}. Chosen over the other "
        f"candidate by {card['selected']['metric']}.",
        "",
        f"**Training data.** {td['description']} As of {td['as_of']}: {td['screened']} "
        f"screened people in {len(td['sets'])} set(s) ({', '.join(td['sets'])}), "
        f"{td['tested']} genetically tested, {td['label_positives']} positive tests"
        + (f", {td['true_carriers']} true carriers." if td.get("true_carriers") is not None
           else "."),
        "",
        f"**Label.** {card['label']}",
        "",
        f"**Features** ({len(card['features'])}, from `sql/model/features.sql`): "
        + ", ".join(f"`{f}`" for f in card["features"]) + ".",
        "",
        f"## Held-out {held}: both candidates",
        "",
        f"Every prediction below comes from a member that never saw the person's {held[:-1]}.",
        "Rows against the label (a positive genetic test) are what a region would see; "
        "rows against the truth are what matters and only a synthetic world can show.",
        "",
        _table(candidates, METRIC_COLUMNS),
        "",
        f"## Each held-out {held[:-1]} (chosen model)",
        "",
        _table(per_part, METRIC_COLUMNS),
        "",
        f"## Clinic capacity (held-out {held}, referable people; {ev['adults']} adults)",
        "",
        "Each way of choosing fills the same slots per 100,000 adults of each "
        f"{held[:-1]}; summed over them. The simple rankings a clinician could use "
        "without the model are DLCN points then untreated LDL, and the highest LDL "
        "measured off treatment.",
        "",
        capacity_markdown(ev["capacity"]) if ev["capacity"] else
        "No truth table: capacity not measured.",
        "",
        f"## Priority tiers (held-out {held}, referable people)",
        "",
        _table(ev["tiers"], ["group", "people", "carriers", "ppv"]) if ev["tiers"] else
        "No truth table: tiers not measured.",
        "",
        "![calibration](calibration.png) ![capacity](capacity.png)",
        "",
        "## Limits",
        "",
        *[f"- {limit}" for limit in card["limits"]],
        "",
    ]
    return "\n".join(parts)
