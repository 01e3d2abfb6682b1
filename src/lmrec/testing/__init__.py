"""Test helpers shipped with lmrec: known-answer datasets and the model conformance mixin.

`lmrec.testing.conformance` needs pytest (a dev dependency); the datasets do not.
"""

from lmrec.testing.datasets import (
    KnownAnswer,
    block_identity,
    checkerboard,
    random_interactions,
    tiny_ratings,
)

__all__ = ["KnownAnswer", "block_identity", "checkerboard", "random_interactions", "tiny_ratings"]
