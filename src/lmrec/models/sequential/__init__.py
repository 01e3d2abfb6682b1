"""Sequence models of user interest (PyTorch, CPU-first): SASRec, BERT4Rec, GRU4Rec/LSTM and the text-based
`textseq`. Layout: `networks` (nn.Modules only), `text_adaptor` (items built from their text), `batches`
(training examples from sequences), `trainer` (the epoch loop, losses, early stopping), `recommender` (the
`Recommender` wrapper shared by all of them) and one module per model family with its config. torch is
imported only inside these modules.
"""
