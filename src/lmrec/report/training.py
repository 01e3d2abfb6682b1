"""How the models got there: training curves of the models that train in epochs, and what the hybrids
learned (blend weights, the learned ranker's feature importance, the share of targets that survived
candidate retrieval). All of it is in results.json: `lmrec run` keeps the final model's per-epoch loss
and validation metric (`timings.training.curve`) and a hybrid's components' curves, weights and ranker
facts (`timings.training.hybrid`). Runs from before these fields report the headline only (epochs run,
best epoch), which the report says.
"""

from __future__ import annotations

from typing import Any

from lmrec.report.inputs import RunFiles

HEADLINE = ("epochs_run", "best_epoch", "best_valid", "metric", "seconds_per_epoch", "stopped_early")


def _curve(training: dict[str, Any]) -> dict[str, Any] | None:
    curve = training.get("curve") or {}
    if not curve.get("loss"):
        return None
    return {
        "epochs": list(range(1, len(curve["loss"]) + 1)),
        "loss": curve["loss"],
        "valid_epochs": curve.get("valid_epochs", []),
        "valid": curve.get("valid", []),
        "metric": curve.get("metric"),
        "best_epoch": training.get("best_epoch"),
    }


def training_curves(run: RunFiles) -> dict[str, Any]:
    """{"curves": {label: curve}, "headline": {label: epochs run, best epoch, ...}, "headline_only": [labels
    of the epoch models without a stored curve]}."""
    curves: dict[str, Any] = {}
    headline: dict[str, Any] = {}
    headline_only = []
    for record in run.results.get("models", []):
        label = str(record["label"])
        training = (record.get("timings") or {}).get("training") or {}
        if "epochs_run" in training:
            headline[label] = {k: training.get(k) for k in HEADLINE}
        curve = _curve(training)
        if curve is not None:
            curves[label] = curve
        elif "epochs_run" in training:
            headline_only.append(label)
        for comp, info in ((training.get("hybrid") or {}).get("components") or {}).items():
            comp_curve = _curve(info)
            if comp_curve is not None:
                curves[f"{label} / {comp}"] = comp_curve
    return {"curves": curves, "headline": headline, "headline_only": headline_only}


def hybrids(run: RunFiles) -> dict[str, Any]:
    """Per hybrid: candidate recall on test (cascades), the blend weights, the ranker's feature gain."""
    out: dict[str, Any] = {}
    for record in run.results.get("models", []):
        training = (record.get("timings") or {}).get("training") or {}
        info = training.get("hybrid") or {}
        test = record.get("test") or {}
        entry: dict[str, Any] = {}
        if "CandidateRecall" in test:
            entry["candidate_recall"] = test["CandidateRecall"]
        if info.get("weights"):
            entry["weights"] = info["weights"]
        ranker = info.get("ranker") or {}
        if ranker.get("feature_gain"):
            gain = ranker["feature_gain"]
            total = sum(gain.values()) or 1.0
            entry["feature_importance"] = {
                "kind": "LightGBM gain, share of the total",
                "features": {k: v / total for k, v in sorted(gain.items(), key=lambda kv: -kv[1])},
            }
        if "valid_candidate_recall" in ranker:
            entry["valid_candidate_recall"] = ranker["valid_candidate_recall"]
        if entry:
            out[str(record["label"])] = entry
    return out


def simulation_rounds(run: RunFiles) -> dict[str, Any] | None:
    """Metrics over rounds of a simulation folder: per metric and policy, the mean over seeds and its 95%
    t interval per round (`lmrec.simulation.report.curves`, the data of the simulator's own plots)."""
    if run.per_round is None:
        return None
    from lmrec.simulation.report import METRICS, curves

    names, policies, lines = curves(run.per_round, [m for m in METRICS if m in run.per_round.columns])
    return {
        "metrics": {m: METRICS[m] for m in names},
        "policies": policies,
        "lines": {
            metric: {
                policy: {
                    "round": lines[metric, policy]["round"].astype(int).tolist(),
                    "mean": lines[metric, policy]["mean"].tolist(),
                    "low": lines[metric, policy]["low"].tolist(),
                    "high": lines[metric, policy]["high"].tolist(),
                }
                for policy in policies
            }
            for metric in names
        },
    }
