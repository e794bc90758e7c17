"""Building blocks of the torch recommenders (private).

One concept per module: the base class of the torch recommenders, with the fit loop
they share (``_base``), where a model runs and how it is seeded (``_device``), which
artifacts it trains with (``_hooks``), its embedding tables (``_embeddings``), negative
sampling (``_sampling``), ranking losses (``_losses``), the guidance loss
(``_guidance``), pairwise (user, item) training (``_pairwise``), the hand-derived BPR
gradients of the plain model (``_analytic``), its one-sample SGD loop compiled with
numba (``_compiled_sgd``) and the validation split behind early stopping
(``_validation``).
"""
