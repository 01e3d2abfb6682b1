"""CFGAN, a GAN for collaborative filtering (Chae et al., CIKM 2018), in PyTorch, CPU-first.

Layout: `networks` (the generator and discriminator nn.Modules), `trainer` (the adversarial epoch loop and
ZR/PM negative sampling), `recommender` (config and the `Recommender` wrapper, registered as "cfgan"),
`diagnostics` (identity collapse of the generator). The `cfgan` augmenter (`lmrec.augment.cfgan`) fits the
same model. torch is imported only inside these modules' functions or by `networks` and `trainer`.
"""
