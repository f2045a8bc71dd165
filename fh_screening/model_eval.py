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

# How each way of choosing ranks the referable people (no exclusion). The rule sets only
# choose people they flag, ordered by their own strength, then by untreated LDL.
RANKINGS: dict[str, tuple[pl.Expr | None, list[pl.Expr]]] = {
    "model": (None, [pl.col("probability")]),
    "rules + model (priority tier)": (
        pl.col("priority_tier").is_not_null(),
        [pl.col("priority_tier") == "high", pl.col("probability")]),
    "DLCN >= 6": (pl.col("dlcn_points") >= 6,
                  [pl.col("dlcn_points"), pl.col("index_untreated_ldl")]),
    "Simon Broome": (pl.col("simon_broome").is_not_null(),
                     [pl.col("simon_broome") == "definite", pl.col("index_untreated_ldl")]),
    "LDL threshold": (None, [pl.col("index_untreated_ldl")]),
    "current rules (flagged)": (pl.col("flagged"),
                                [pl.col("tier") == "high", pl.col("index_untreated_ldl")]),
}


def scores(y: np.ndarray, p: np.ndarray) -> dict[str, float | int | None]:
    """ROC AUC, average precision and Brier score; None where a class is missing."""
    y = np.asarray(y, dtype=int)
    both = 0 < y.sum() < len(y)
    return {
        "n": int(len(y)), "positives": int(y.sum()),
        "roc_auc": round(float(roc_auc_score(y, p)), 4) if both else None,
        "average_precision": round(float(average_precision_score(y, p)), 4) if both else None,
        "brier": round(float(brier_score_loss(y, p)), 6) if len(y) else None,
        "mean_predicted": round(float(np.mean(p)), 6) if len(y) else None,
    }


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
    for capacity in capacities:
        slots = max(1, round(capacity * adults / 100_000))
        for name, (eligible, keys) in RANKINGS.items():
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
                  "observed rate", "Calibration, held-out families")

    fig, ax = plt.subplots(figsize=(6.5, 4.5), dpi=110)
    curve = evaluation.get("capacity_curve") or []
    for name in RANKINGS:
        pts = [r for r in curve if r["ranking"] == name]
        ax.plot([r["capacity_per_100k"] for r in pts], [r["carriers_found"] for r in pts],
                marker="o", label=name)
    cap = _finish(fig, ax, "referral capacity per 100,000 adults",
                  "true carriers found (synthetic truth)",
                  "Carriers found at each clinic capacity, held-out families")
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


def card_markdown(card: dict[str, Any]) -> str:
    """The model card for people: what it was trained on, how it was measured, limits."""
    ev = card["evaluation"]
    metric_cols = ["model", "outcome", "n", "positives", "roc_auc", "average_precision",
                   "brier", "mean_predicted"]
    # Sorted: the JSON card is written with sorted keys, and the Markdown must read the same
    # whether it is rendered from the trained card or from the JSON loaded back.
    candidates = [{"model": name, "outcome": outcome, **m}
                  for name, by in sorted(ev["candidates"].items())
                  for outcome, m in sorted(by.items())]
    cross = [{"model": f"train {r['train']} -> test {r['test']}", "outcome": outcome, **m}
             for r in ev["cross_region"] for outcome, m in sorted(r["metrics"].items())]
    bias = [{"model": name, "outcome": outcome, **m}
            for name, by in sorted(ev["label_bias"].items()) for outcome, m in sorted(by.items())]
    parts = [
        f"# Model card: {card['version']}",
        "",
        f"**Intended use.** {card['intended_use']}",
        "",
        f"**Model.** {card['selected']['kind']} (scikit-learn {card['sklearn_version']}), "
        f"calibrated with {card['calibration']}. Chosen over the other candidate by "
        f"{card['selected']['metric']}.",
        "",
        f"**Training data.** {card['training_data']['description']} As of "
        f"{card['training_data']['as_of']}: {card['training_data']['screened']} screened "
        f"people, {card['training_data']['tested']} genetically tested, "
        f"{card['training_data']['label_positives']} positive labels.",
        "",
        f"**Label.** {card['label']}",
        "",
        f"**Features** ({len(card['features'])}, from `sql/model/features.sql`): "
        + ", ".join(f"`{f}`" for f in card["features"]) + ".",
        "",
        "## Held-out families (5-fold, grouped by family)",
        "",
        _table(candidates, metric_cols),
        "",
        "## Cross-region (trained on one region's dialect, tested on the other)",
        "",
        _table(cross, metric_cols),
        "",
        f"## Clinic capacity (held-out families, referable people; {ev['adults']} adults)",
        "",
        capacity_markdown(ev["capacity"]),
        "",
        "## Priority tiers (held-out families, referable people)",
        "",
        _table(ev["tiers"], ["group", "people", "carriers", "ppv"]) if ev["tiers"] else
        "No truth table: tiers not measured.",
        "",
        "## Label bias",
        "",
        ev["label_bias_note"],
        "",
        _table(bias, metric_cols),
        "",
        "![calibration](calibration.png) ![capacity](capacity.png)",
        "",
        "## Limits",
        "",
        *[f"- {limit}" for limit in card["limits"]],
        "",
    ]
    return "\n".join(parts)
