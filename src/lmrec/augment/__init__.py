"""Training-data augmentation: pseudo-interactions added to a model's fit data, marked as synthetic.

One interface (`Augmenter.augment(train, seed=..., item_features=...) -> Augmented`) and five methods,
judged by the same numbers in an experiment (`augmentation:` on a model entry):

| method | pseudo-items for a user |
|---|---|
| `random` | drawn uniformly from the items new to the user |
| `popularity` | drawn by popularity^exponent (Gumbel-top-k) |
| `itemknn` | the top item-kNN votes of the user's items (item-item cosine) |
| `text` | the items whose pretrained text embedding is closest to the user's items |
| `cfgan` | the items a CFGAN generator fitted on the data rates highest for the user |

Pseudo-items are prepended to each user's timeline (before the first real event); see `base`.
"""

from lmrec.augment.base import COMMON_OPTIONS, PLACEMENT, Augmented, Augmenter
from lmrec.augment.registry import AUGMENTERS, get_augmenter_class, make_augmenter, method_params

__all__ = [
    "AUGMENTERS",
    "COMMON_OPTIONS",
    "PLACEMENT",
    "Augmented",
    "Augmenter",
    "get_augmenter_class",
    "make_augmenter",
    "method_params",
]
