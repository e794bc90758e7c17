"""Matrix factorisation trained with Bayesian Personalised Ranking, in torch."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real
from typing import TYPE_CHECKING

import numpy as np
import torch
from joblib import effective_n_jobs
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from ._torch._analytic import AnalyticBPR, is_plain_table
from ._torch._base import (
    COMMON_ATTRIBUTES,
    COMMON_PARAMETERS,
    TorchRecommender,
    guidance_loss,
    to_numpy,
)
from ._torch._embeddings import INIT_STD, EntityEmbedding, item_embedding, user_embedding
from ._torch._guidance import refuse_generative
from ._torch._hooks import Hooks
from ._torch._losses import l2_penalty
from ._torch._pairwise import PairwiseSampler, pairwise_loss
from ._torch._rows import TrainingRows
from ._torch._sampling import KnownPairs

if TYPE_CHECKING:  # imported when used: numba is slow to import
    from ._torch._compiled_sgd import CompiledBPR

__all__ = ["BPRRecommender"]


class _MatrixFactorization(nn.Module):
    def __init__(self, users: EntityEmbedding, items: EntityEmbedding):
        super().__init__()
        self.users, self.items = users, items


@dataclass
class _State:
    module: _MatrixFactorization
    sampler: PairwiseSampler
    analytic: AnalyticBPR | None = None  # hand-derived gradients for the plain model
    compiled: CompiledBPR | None = None  # per-sample SGD in one compiled loop


class BPRRecommender(TorchRecommender):
    __doc__ = """Matrix factorisation trained with BPR (or a sampled softmax), in torch.

    A user's score for an item is the dot product of their embeddings (Rendle et al.,
    2009). Training shuffles the rows each epoch, draws negatives for a whole epoch
    at once in numpy (never an item the user interacted with), and takes Adam steps
    on large batches. The plain model (``loss="bpr"``, no LLM artifact beyond
    ``mode="init"`` embeddings) writes its gradients in closed form instead of through
    autograd: the same steps, faster. After ``fit`` the embeddings are numpy arrays
    (``user_factors_``, ``item_factors_``): serving is a matrix product on the CPU.

    Parameters
    ----------
    n_factors : int, default=64
        Width of the user and item embeddings.
{common}
    negative_sampling : {{"uniform", "popularity"}}, default="uniform"
        ``"uniform"``: negatives drawn uniformly among the items the user does not
        know (a known draw is redrawn). ``"popularity"``: drawn from the training
        rows' items, so in proportion to their popularity, and a draw the user knows
        does not count (its ranking term is left out) instead of being redrawn, as in
        implicit's BPR. For ``loss`` ``"bpr"`` and ``"bce"``.
    optimizer : {{"adam", "sgd"}}, default="adam"
        ``"sgd"``: plain SGD that moves each sample's rows by ``learning_rate`` times
        its own gradient (the per-sample gradients of a batch are summed; with
        ``batch_size=1`` every sample steps before the next is scored, implicit's
        algorithm; ``weight_decay`` is then its ``reg``). On a CPU, ``batch_size=1``
        runs each epoch of the plain ``"bpr"`` model as one loop compiled with numba
        (the very steps of the torch path, about as fast as implicit's Cython loop);
        on a GPU, prefer large batches. Only the plain model: LLM artifacts that add
        trainable modules (``"frozen"`` embeddings, side features, guidance) need
        ``"adam"``.
    init_std : float, default=0.1
        Std of the random initial embeddings (an ``"init"`` artifact replaces them;
        match its scale with ``LLMEmbeddingInitializer(target_std=...)``).
    n_jobs : int, default=None
        Threads of the compiled one-sample SGD loop (``optimizer="sgd"``,
        ``batch_size=1``, on a CPU). ``None`` or 1: one thread, and the same model for
        the same ``random_state``. More (-1: every core): lock-free Hogwild threads,
        as implicit's, faster on several cores but not reproducible from run to run.
        The torch paths use torch's threads instead (``torch.set_num_threads``), so
        they refuse ``n_jobs`` other than ``None`` or 1.

    Attributes
    ----------
{attributes}

    See Also
    --------
    LightGCNRecommender : Propagates these embeddings over the user-item graph.
    ALSRecommender : Implicit-feedback MF fitted by alternating least squares.

    Notes
    -----
    **Training like implicit's BPR.** ``optimizer="sgd", batch_size=1,
    negative_sampling="popularity", learning_rate=0.01, weight_decay=0.01,
    init_std=0.01, epochs=100`` follows implicit's update rule, one sample at a time
    (add ``n_jobs=-1`` for implicit's Hogwild threads). On ml-latest-small (LeaveLastOut,
    one CPU thread) its epoch takes about 0.7x the time of implicit's, and its NDCG@10
    over 20 seeds is implicit's, where the Adam defaults trail it (see the benchmarks
    page). The defaults are kept for the LLM artifacts, whose adapters and guidance
    heads train with Adam.

    **Artifacts** (attach them with the enhancers of :mod:`skllmers.model_enhancement`,
    :mod:`skllmers.knowledge` and :mod:`skllmers.interaction`):

    ``"item_embeddings"``, ``"user_embeddings"`` (:class:`~skllmers.EmbeddingInit`)
        ``mode="init"``: the item (user) table starts from the vectors and trains (their
        width must be ``n_factors``). ``mode="frozen"``: the vectors stay fixed behind a
        trainable ``adapter``, plus a free ID embedding that starts at zero when
        ``add_id_embedding`` (LLM-ESR, AlphaRec).
    ``"item_features"``, ``"user_features"``
        Projected linearly (the projection starts at zero) and added to the ID
        embeddings.
    ``"guidance"`` (:class:`~skllmers.GuidanceTargets`)
        Adds ``weight`` times an alignment loss between the batch's user and positive
        item embeddings and the LLM targets: InfoNCE against an MLP projection of the
        targets (``"contrastive"``, RLMRec-Con) or toward the mean embedding of the
        neighbours in target space (``"distillation"``). ``"generative"`` (RLMRec-Gen)
        raises: it reconstructs a masked embedding from its graph neighbours, which a
        factor table does not have (use LightGCNRecommender).
        ``weight=0`` trains exactly the unguided model.
    ``"negatives"``
        Explicit (user, positive, negative) triples (LLMRec). A triple whose (user,
        positive) is a training row (as the augmenter's added rows are) adds the BPR
        term ``-log sigmoid(pos - neg)`` of its explicit negative (whatever ``loss``)
        to that row's sample, at the row's weight; any other triple is one more
        sample of its (user, positive), of weight 1, with sampled negatives like a row.

    Row weights multiply each row's loss; rows of weight 0 are dropped, so augmented
    rows of weight 0 give exactly the model without them.

    References
    ----------
    S. Rendle, C. Freudenthaler, Z. Gantner and L. Schmidt-Thieme, "BPR: Bayesian
    Personalized Ranking from Implicit Feedback", UAI 2009.

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.recommenders import BPRRecommender
    >>> df = pd.DataFrame({{"user_id": [1, 1, 2, 2, 3, 3, 4],
    ...                    "item_id": ["a", "b", "a", "b", "c", "d", "c"]}})
    >>> model = BPRRecommender(n_factors=8, epochs=50, batch_size=4, learning_rate=0.05,
    ...                        random_state=0)
    >>> model = model.fit(InteractionData.from_pandas(df))
    >>> model.item_factors_.shape
    (4, 8)
    >>> model.recommend([4], k=1)["item_id"].tolist()
    ['d']
    """.format(
        common=COMMON_PARAMETERS.format(
            epochs=30, batch_size=8192, learning_rate=1e-2, weight_decay=1e-3, loss="bpr",
            batch_unit="Rows (samples)",
            validation="Share of the real (not augmented) training rows held out for "
                       "early stopping."),
        attributes=COMMON_ATTRIBUTES,
    )

    _parameter_constraints: dict = {
        **TorchRecommender._parameter_constraints,
        "n_jobs": [Interval(Integral, None, -1, closed="right"),
                   Interval(Integral, 1, None, closed="left"), None],
        "negative_sampling": [StrOptions({"uniform", "popularity"})],
        "optimizer": [StrOptions({"adam", "sgd"})],
        "init_std": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, n_factors=64, *, epochs=30, batch_size=8192, learning_rate=1e-2,
                 weight_decay=1e-3, loss="bpr", n_negatives=None, adapter="linear",
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=5,
                 device="auto", random_state=None, verbose=False,
                 negative_sampling="uniform", optimizer="adam", init_std=INIT_STD,
                 n_jobs=None):
        self.n_factors = n_factors
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.loss = loss
        self.n_negatives = n_negatives
        self.adapter = adapter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.negative_sampling = negative_sampling
        self.optimizer = optimizer
        self.init_std = init_std
        self.n_jobs = n_jobs

    def _setup(self, train: TrainingRows, rows: TrainingRows, hooks: Hooks) -> _State:
        refuse_generative(hooks.guidance, type(self).__name__)
        module = _MatrixFactorization(
            user_embedding(rows.n_users, self.n_factors, hooks, self.adapter, self.init_std),
            item_embedding(rows.n_items, self.n_factors, hooks, self.adapter, self.init_std),
        ).to(self.device_)
        plain = (is_plain_table(module.users) and is_plain_table(module.items)
                 and hooks.guidance is None)
        self._check_training_choices(plain)
        known = KnownPairs(rows.users, rows.items, rows.n_users, rows.n_items)
        sampler = PairwiseSampler(train, known, hooks.negatives, loss=self.loss,
                                  n_negatives=self._negatives_per_sample(),
                                  batch_size=self.batch_size, device=self.device_,
                                  popularity=self.negative_sampling == "popularity")
        analytic = None
        no_triples = hooks.negatives is None or len(hooks.negatives) == 0
        if plain and self.loss == "bpr" and no_triples:
            analytic = AnalyticBPR(module.users.id, module.items.id, self.weight_decay)
        return _State(module, sampler, analytic, self._compiled_sgd(module, analytic))

    def _compiled_sgd(self, module: _MatrixFactorization, analytic: AnalyticBPR | None):
        """The compiled loop, where it takes the very steps of the torch path."""
        n_threads = effective_n_jobs(self.n_jobs)
        one_sample_sgd = self.optimizer == "sgd" and self.batch_size == 1
        if analytic is None or not one_sample_sgd or self.device_.type != "cpu":
            if n_threads != 1:
                raise ValueError(
                    f"n_jobs={self.n_jobs} sets the threads of the compiled SGD loop, which "
                    "only trains the plain loss='bpr' model with optimizer='sgd' and "
                    "batch_size=1 on a CPU; this fit trains in torch, whose threads "
                    "torch.set_num_threads sets. Leave n_jobs=None."
                )
            return None
        from ._torch._compiled_sgd import CompiledBPR  # numba is slow to import

        return CompiledBPR(module.users.id, module.items.id, self.learning_rate,
                           self.weight_decay, n_threads)

    def _check_training_choices(self, plain: bool) -> None:
        """Refuse the combinations of parameters and artifacts that cannot train."""
        if self.negative_sampling == "popularity" and self.loss == "sampled_softmax":
            raise ValueError(
                "negative_sampling='popularity' draws each sample's own negatives, but "
                "loss='sampled_softmax' shares uniform negatives across a batch; use "
                "loss='bpr' or 'bce', or negative_sampling='uniform'."
            )
        if self.optimizer == "sgd" and not plain:
            raise ValueError(
                "optimizer='sgd' steps the two embedding tables by learning_rate per "
                "sample, but the data's LLM artifacts add trainable modules (a 'frozen' "
                "embedding's adapter, a side-feature projection or a guidance head) "
                "that need optimizer='adam'."
            )

    def _optimizer(self, params) -> torch.optim.Optimizer:
        if self.optimizer == "sgd":
            return torch.optim.SGD(params, lr=self.learning_rate)
        return super()._optimizer(params)

    def _batches(self, state: _State, rng: np.random.Generator):
        return state.sampler.epoch(rng)

    def _run_epoch(self, state: _State, guidance, optimizer, rng) -> float:
        if state.compiled is None:
            return super()._run_epoch(state, guidance, optimizer, rng)
        return state.compiled.run_epoch(state.sampler.draw(rng))

    def _step(self, state: _State, batch, guidance, optimizer) -> torch.Tensor:
        if self.optimizer == "sgd":  # the loss is a batch mean: step per sample
            for group in optimizer.param_groups:
                group["lr"] = self.learning_rate * len(batch.users)
        if state.analytic is None:
            return super()._step(state, batch, guidance, optimizer)
        loss = state.analytic.set_gradients(batch)
        optimizer.step()
        return loss

    def _batch_loss(self, state: _State, batch, guidance) -> torch.Tensor:
        module = state.module
        picks = {}
        if guidance is not None:
            picks = {"users": guidance.select("users", batch.users),
                     "items": guidance.select("items", batch.items)}
        user_rows = module.users(batch.users)
        loss, positive_rows, used_rows = pairwise_loss(self.loss, batch, user_rows,
                                                       module.items)
        if self.weight_decay:
            penalty = l2_penalty([user_rows, *used_rows], len(batch.users))
            loss = loss + self.weight_decay * penalty
        if picks:
            codes = {"users": batch.users, "items": batch.items}
            rows = {"users": user_rows, "items": positive_rows}
            term = guidance_loss(guidance, picks, codes, rows)
            loss = loss if term is None else loss + term
        return loss

    @torch.no_grad()
    def _factors(self, state: _State, serving: bool):
        state.module.eval()
        return to_numpy(state.module.users()), to_numpy(state.module.items())
