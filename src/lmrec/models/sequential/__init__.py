"""Sequence models of user interest (PyTorch, CPU-first): SASRec, BERT4Rec, GRU4Rec/LSTM and a text-aware
SASRec. Layout: `networks` (nn.Modules only), `batches` (training examples from sequences), `trainer` (the
epoch loop, losses, early stopping), `recommender` (the `Recommender` wrapper shared by all of them) and one
module per model family with its config. torch is imported only inside these modules.
"""
