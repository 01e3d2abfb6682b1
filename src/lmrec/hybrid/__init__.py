"""Hybrid strategies: several lmrec models combined into one Recommender.

- `WeightedHybrid` ("weighted"): weighted sum of normalised scores, weights given or fitted on validation;
- `SwitchingHybrid` ("switching"): one of two models decides, by user history length or item coldness;
- `Cascade` ("cascade"): union of retrievers' top lists, re-ranked by a ranker model;
- `LearnedRanker` ("ltr"): a cascade whose ranker is LightGBM LambdaRank over candidate features, trained
  on the validation targets;
- `NeuralRanker` ("neural_ranker"): the same cascade with a click model (DeepFM, Wide&Deep, NeuMF, LR) over
  the user, the item and binned candidate features as the ranker.

Each is declared in an experiment file like any model, its components as `{name, params}` mappings.
"""

from lmrec.hybrid.cascade import Cascade, CascadeConfig
from lmrec.hybrid.ltr import LearnedRanker, LTRConfig
from lmrec.hybrid.neural_ranker import NeuralRanker, NeuralRankerConfig
from lmrec.hybrid.switching import SwitchingConfig, SwitchingHybrid
from lmrec.hybrid.weighted import WeightedConfig, WeightedHybrid

__all__ = [
    "Cascade",
    "CascadeConfig",
    "LTRConfig",
    "LearnedRanker",
    "NeuralRanker",
    "NeuralRankerConfig",
    "SwitchingConfig",
    "SwitchingHybrid",
    "WeightedConfig",
    "WeightedHybrid",
]
