"""Evaluation: ranking metrics as pure functions, the batched full-ranking evaluator, beyond-accuracy
measures, rating/classification metrics and paired significance tests."""

from lmrec.eval.beyond import (
    average_recommended_popularity,
    coverage_from_counts,
    gini_index,
    intra_list_diversity,
    item_coverage,
    novelty,
    personalization,
    popularity_gini,
    recommendation_counts,
)
from lmrec.eval.evaluator import DEFAULT_METRICS, RankingProtocol, RankingResult, evaluate_ranking
from lmrec.eval.metrics import (
    METRICS,
    MetricSpec,
    average_precision,
    canonical_name,
    get_metric,
    hit_rate,
    metric_specs,
    mrr,
    ndcg,
    parse_metric,
    precision,
    recall,
)
from lmrec.eval.rating import auc, evaluate_ratings, log_loss, mae, rmse
from lmrec.eval.significance import Comparison, compare, mean_ci

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "Comparison",
    "MetricSpec",
    "RankingProtocol",
    "RankingResult",
    "auc",
    "average_precision",
    "average_recommended_popularity",
    "canonical_name",
    "compare",
    "coverage_from_counts",
    "evaluate_ranking",
    "evaluate_ratings",
    "get_metric",
    "gini_index",
    "hit_rate",
    "intra_list_diversity",
    "item_coverage",
    "log_loss",
    "mae",
    "mean_ci",
    "metric_specs",
    "mrr",
    "ndcg",
    "novelty",
    "parse_metric",
    "personalization",
    "popularity_gini",
    "precision",
    "recall",
    "recommendation_counts",
    "rmse",
]
