"""lmrec: recommenders with pretrained models, measured honestly."""

__version__ = "0.1.0"
