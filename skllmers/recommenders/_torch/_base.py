"""The training loop shared by the torch recommenders (BPR, LightGCN, SASRec)."""

from __future__ import annotations

from abc import abstractmethod
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from tqdm.auto import tqdm

from ..._artifacts import ARTIFACT_KEYS
from ..._interaction_data import InteractionData
from .._base import BaseRecommender, FactorModelMixin
from ._device import Seeds, resolve_device, seeded_torch
from ._embeddings import ADAPTERS
from ._guidance import GuidanceHead
from ._hooks import Hooks, read_hooks
from ._losses import LOSSES
from ._rows import TrainingRows
from ._validation import EarlyStopping, ValidationSet

__all__ = ["TorchRecommender"]

# Documentation shared by the models' docstrings.
COMMON_PARAMETERS = """\
    epochs : int, default={epochs}
        Passes over the training rows (the most, with ``early_stopping``).
    batch_size : int, default={batch_size}
        {batch_unit} per gradient step.
    learning_rate : float, default={learning_rate}
        Adam's step size.
    weight_decay : float, default={weight_decay}
        L2 penalty on the embedding rows each batch uses (half their squared norm per
        sample), as in BPR and LightGCN: rarely seen rows are not shrunk between their
        updates.
    loss : {{"bpr", "bce", "sampled_softmax"}}, default="{loss}"
        ``"bpr"``: ``-log sigmoid(pos - neg)``; ``"bce"``: binary cross-entropy of the
        positive and the negatives; ``"sampled_softmax"``: cross-entropy of the positive
        against ``n_negatives`` uniformly drawn items shared by the batch.
    n_negatives : int, default=None
        Negatives per positive for ``"bpr"``/``"bce"`` (drawn among the items the user
        does not know), or per batch for ``"sampled_softmax"``. ``None``: 1, or 1024 for
        ``"sampled_softmax"``.
    adapter : {{"linear", "mlp"}}, default="linear"
        The trainable map from frozen LLM item vectors to ``n_factors`` (an
        ``"item_embeddings"`` artifact with ``mode="frozen"``).
    early_stopping : bool, default=False
        Hold out part of the training rows (see ``validation_fraction``), score NDCG@10
        on them after every epoch, stop after ``n_iter_no_change`` epochs without a
        better score, and keep the best epoch's weights.
    validation_fraction : float, default=0.1
        {validation}
    n_iter_no_change : int, default=5
        Patience of early stopping, in epochs.
    device : str or torch.device, default="auto"
        Where to train: ``"auto"`` is CUDA when torch sees a GPU, else the CPU.
        The fitted factors are numpy arrays, so a model trained on a GPU serves (and
        unpickles) on a machine without one.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, sampling, dropout and the validation split. An int
        gives the same model on every fit on CPU (CUDA kernels may differ in the last
        bits).
    verbose : bool, default=False
        Show a progress bar over the epochs with the training loss."""

COMMON_ATTRIBUTES = """\
    user_factors_ : ndarray of shape (n_users, n_factors), float32
    item_factors_ : ndarray of shape (n_items, n_factors), float32
    device_ : torch.device
        The device the model was trained on.
    n_iter_ : int
        Epochs run.
    loss_curve_ : list of float
        Mean training loss of each epoch (guidance term included).
    validation_scores_ : list of float or None
        NDCG@10 on the validation rows after each epoch (``early_stopping=True``).
    best_validation_score_ : float or None
        The best of ``validation_scores_``; the model keeps that epoch's weights.
    user_ids_, item_ids_ : pandas.Index
        Id maps of the training data.
    seen_ : scipy.sparse.csr_matrix of shape (n_users, n_items)
        Each user's real training items, excluded from recommendations.
    item_popularity_ : ndarray of shape (n_items,)
        Users per item; the ranking for unknown users."""


class TorchRecommender(FactorModelMixin, BaseRecommender):
    """Base class of the recommenders trained with torch; they serve with numpy.

    ``fit`` resolves the device, seeds every random stream from ``random_state``,
    reads the enhancer artifacts (:func:`read_hooks`), holds out validation rows when
    ``early_stopping``, then runs Adam over ``epochs`` and exports the final user and
    item representations as numpy factors. Subclasses implement:

    ``_setup(train, rows, hooks)``
        The model's state for one fit: an object with a ``module`` attribute (the
        ``torch.nn.Module`` to optimise), already on ``self.device_``.
    ``_batches(state, rng)``
        The batches of one epoch.
    ``_batch_loss(state, batch, guidance)``
        The scalar loss of a batch, guidance term included.
    ``_factors(state, serving)``
        ``(user_factors, item_factors)`` as numpy arrays; ``serving=False`` during
        validation (a sequential model then uses the training histories only).
    ``_holdout(rows, rng)``
        Boolean mask of the validation rows.
    """

    _parameter_constraints: dict = {
        "n_factors": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "loss": [StrOptions(set(LOSSES))],
        "n_negatives": [Interval(Integral, 1, None, closed="left"), None],
        "adapter": [StrOptions(set(ADAPTERS))],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    _artifacts_read = frozenset(ARTIFACT_KEYS)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        return super().fit(X, y)

    fit.__doc__ = BaseRecommender.fit.__doc__

    def _fit(self, X: InteractionData) -> None:
        self.device_ = resolve_device(self.device)
        seeds = Seeds.from_random_state(self.random_state)
        hooks = read_hooks(X, n_factors=self.n_factors, model_name=type(self).__name__)
        rows = TrainingRows.from_data(X, seeds.split)
        if len(rows) == 0:
            raise ValueError("Every training row has weight 0: there is nothing to learn.")
        train, validation = self._validation_split(rows, seeds.split)
        with seeded_torch(seeds.torch, self.device_):
            state = self._setup(train, rows, hooks)
            guidance = self._guidance_head(hooks, seeds)
            self._train(state, guidance, validation, seeds.sampling)
            user_factors, item_factors = self._factors(state, serving=True)
        self.user_factors_ = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(item_factors, dtype=np.float32)

    # ------------------------------------------------------------------ steps of fit
    def _validation_split(self, rows: TrainingRows, rng: np.random.Generator):
        if not self.early_stopping:
            return rows, None
        mask = self._holdout(rows, rng)
        train = rows.subset(~mask)
        validation = ValidationSet(rows.subset(mask), train)
        if len(validation) == 0:
            raise ValueError(
                f"early_stopping=True but validation_fraction={self.validation_fraction} "
                "leaves no validation row to score (too little data); raise "
                "validation_fraction or set early_stopping=False."
            )
        return train, validation

    def _holdout(self, rows: TrainingRows, rng: np.random.Generator) -> np.ndarray:
        return rows.random_holdout(rng, self.validation_fraction)

    def _guidance_head(self, hooks: Hooks, seeds: Seeds):
        if hooks.guidance is None:
            return None
        return GuidanceHead(hooks.guidance, self.n_factors, seeds.guidance, self.device_)

    def _train(self, state, guidance, validation, rng: np.random.Generator) -> None:
        modules = [state.module] + ([] if guidance is None else [guidance])
        optimizer = self._optimizer([p for m in modules for p in m.parameters()])
        stopper = None if validation is None else EarlyStopping(self.n_iter_no_change)
        self.loss_curve_ = []
        self.validation_scores_ = None if validation is None else []
        self.best_validation_score_ = None
        bar = tqdm(range(self.epochs), desc=type(self).__name__, disable=not self.verbose)
        for epoch in bar:
            self.n_iter_ = epoch + 1
            for module in modules:
                module.train()
            self.loss_curve_.append(self._run_epoch(state, guidance, optimizer, rng))
            postfix = {"loss": f"{self.loss_curve_[-1]:.4f}"}
            if stopper is not None:
                score = validation.ndcg(*self._factors(state, serving=False))
                self.validation_scores_.append(score)
                postfix["val_ndcg@10"] = f"{score:.4f}"
                if stopper.update(score, epoch, modules):
                    break
            bar.set_postfix(postfix)
        bar.close()
        if stopper is not None:
            stopper.restore_best(modules)
            self.best_validation_score_ = stopper.best_score

    def _run_epoch(self, state, guidance, optimizer, rng) -> float:
        total, n_batches = None, 0
        for batch in self._batches(state, rng):
            loss = self._step(state, batch, guidance, optimizer)
            total = loss if total is None else total + loss
            n_batches += 1
        return float(total) / max(n_batches, 1) if total is not None else 0.0

    def _optimizer(self, params) -> torch.optim.Optimizer:
        return _adam(params, self.learning_rate)

    def _step(self, state, batch, guidance, optimizer) -> torch.Tensor:
        """One optimiser step on ``batch``; returns its loss, detached."""
        loss = self._batch_loss(state, batch, guidance)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    def _negatives_per_sample(self) -> int:
        if self.n_negatives is not None:
            return int(self.n_negatives)
        return 1024 if self.loss == "sampled_softmax" else 1

    # ------------------------------------------------------------------ model-specific
    @abstractmethod
    def _setup(self, train: TrainingRows, rows: TrainingRows, hooks: Hooks):
        """State of one fit (with a ``module``), from the training rows and hooks."""

    @abstractmethod
    def _batches(self, state, rng: np.random.Generator):
        """The batches of one epoch."""

    @abstractmethod
    def _batch_loss(self, state, batch, guidance) -> torch.Tensor:
        """Scalar loss of one batch, guidance included."""

    @abstractmethod
    def _factors(self, state, serving: bool) -> tuple[np.ndarray, np.ndarray]:
        """Current user and item factors, as numpy arrays."""


def _adam(params, learning_rate: float) -> torch.optim.Adam:
    """Adam, with the fused kernel where this torch has one for the parameters' device."""
    try:
        return torch.optim.Adam(params, lr=learning_rate, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=learning_rate)


def guidance_loss(guidance: GuidanceHead, picks: dict, codes: dict, rows: dict):
    """Sum of the guidance losses of the sides picked (``picks[side]``: positions)."""
    total = None
    for side, positions in picks.items():
        if positions is None:
            continue
        term = guidance.loss(side, codes[side][positions], rows[side][positions])
        total = term if total is None else total + term
    return total


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float32).numpy()
