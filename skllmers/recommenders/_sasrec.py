"""SASRec: a causal self-attention model of each user's time-ordered history."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import Interval
from torch import nn

from ._torch._base import (
    COMMON_ATTRIBUTES,
    COMMON_PARAMETERS,
    TorchRecommender,
    guidance_loss,
    to_numpy,
)
from ._torch._embeddings import INIT_STD, EntityEmbedding, item_embedding
from ._torch._guidance import refuse_generative
from ._torch._hooks import Hooks
from ._torch._losses import l2_penalty, ranking_loss
from ._torch._rows import TrainingRows
from ._torch._sampling import KnownPairs, sample_negatives
from ._torch._sequences import Windows, latest_histories, training_windows

__all__ = ["SASRecRecommender"]

_ENCODE_CHUNK = 1024  # histories encoded at once when exporting user factors


class _Block(nn.Module):
    """Pre-norm transformer block: causal multi-head self-attention, then a feed-forward."""

    def __init__(self, dim: int, n_heads: int, dropout: float):
        super().__init__()
        self.n_heads, self.dropout = n_heads, dropout
        self.attention_norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.attention_out = nn.Linear(dim, dim)
        self.feed_forward_norm = nn.LayerNorm(dim)
        self.feed_forward = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Dropout(dropout),
                                          nn.Linear(dim, dim))
        self.residual_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, attend: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        qkv = self.qkv(self.attention_norm(x))
        q, k, v = qkv.view(batch, length, 3, self.n_heads, dim // self.n_heads).unbind(2)
        attended = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=attend,
            dropout_p=self.dropout if self.training else 0.0)
        attended = attended.transpose(1, 2).reshape(batch, length, dim)
        x = x + self.residual_dropout(self.attention_out(attended))
        return x + self.residual_dropout(self.feed_forward(self.feed_forward_norm(x)))


class _SASRec(nn.Module):
    def __init__(self, items: EntityEmbedding, max_len: int, n_layers: int, n_heads: int,
                 dropout: float):
        super().__init__()
        self.items = items
        self.input_scale = items.dim ** 0.5
        self.positions = nn.Parameter(torch.randn(max_len, items.dim) * INIT_STD)
        self.input_dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(_Block(items.dim, n_heads, dropout)
                                    for _ in range(n_layers))
        self.norm = nn.LayerNorm(items.dim)

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        """Hidden state after each position of left-padded ``sequences`` (B, L)."""
        pad = self.items.n
        real = (sequences != pad).unsqueeze(-1)
        # scaled by sqrt(width) as in SASRec: the items, not the positions, dominate the
        # input, and the residual stream is on the scale of the blocks' outputs
        x = self.items(sequences.clamp_max(pad - 1)) * self.input_scale
        x = x + self.positions[-sequences.shape[1]:]
        x = self.input_dropout(x) * real
        attend = _attention_mask(sequences != pad)
        for block in self.blocks:
            x = block(x, attend) * real
        return self.norm(x)


def _attention_mask(real: torch.Tensor) -> torch.Tensor:
    """(B, 1, L, L) bool: a position attends to earlier real items and to itself."""
    length = real.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=real.device).tril()
    itself = torch.eye(length, dtype=torch.bool, device=real.device)
    return (causal & real.unsqueeze(1) | itself).unsqueeze(1)


@dataclass
class _State:
    module: _SASRec
    windows: Windows
    known: KnownPairs
    train: TrainingRows
    rows: TrainingRows


@dataclass(frozen=True)
class _Batch:
    users: torch.Tensor  # (B,)
    items: torch.Tensor  # (B, L + 1)
    weights: torch.Tensor  # (B, L + 1)
    negatives: torch.Tensor | None  # (B, L, K)
    shared: torch.Tensor | None  # (K,)


class SASRecRecommender(TorchRecommender):
    __doc__ = """SASRec: next-item prediction by causal self-attention over a user's history.

    Each user's rows, in time order (ties broken by a seeded random key, as
    :meth:`~skllmers.InteractionData.time_order` does), form a sequence of items. A
    stack of ``n_layers`` transformer blocks reads the latest ``max_len`` items, each
    position attending only to earlier ones, and the hidden state after an item
    scores the next one by a dot product with the item embeddings, which are shared
    with the input (Kang & McAuley, 2018). Training cuts every history into windows of
    ``max_len`` targets, so each row but a user's first is a target once per epoch.

    At the end of ``fit`` the hidden state after each user's latest training items
    becomes ``user_factors_`` and the item embeddings ``item_factors_``: serving is a
    matrix product of numpy arrays, and ``recommend`` ranks the next item after the
    user's training history. A model refitted on newer rows is needed to follow newer
    history.

    Parameters
    ----------
    n_factors : int, default=64
        Width of the item embeddings and of the transformer.
    max_len : int, default=50
        Length of the history the model reads (the latest items).
    n_layers : int, default=2
        Transformer blocks.
    n_heads : int, default=1
        Attention heads; must divide ``n_factors``.
    dropout : float, default=0.2
        Dropout on the inputs, the attention weights and the residual branches.
{common}

    Attributes
    ----------
{attributes}

    See Also
    --------
    BPRRecommender, LightGCNRecommender : Models that ignore the order of the rows.

    Notes
    -----
    **Artifacts.** ``"item_embeddings"`` (``init`` or ``frozen`` behind the
    ``adapter``) and ``"item_features"`` shape the item embeddings, as in
    :class:`BPRRecommender`. The ``"guidance"`` loss aligns the embeddings of a batch's
    target items with the item targets and, with user targets, the hidden state at the
    end of each window with its user's target (``kind="generative"`` raises: RLMRec-Gen
    reconstructs a masked embedding from graph neighbours; use LightGCNRecommender).
    ``"user_features"``,
    ``"user_embeddings"`` and explicit ``"negatives"`` raise an error: SASRec has no
    user embedding to add features to or start from, and a (user, positive, negative)
    triple has no position in a sequence.

    **Item text.** Text makes SASRec converge much faster. On ml-latest-small
    (LeaveLastOut, all-MiniLM-L6-v2 vectors of title, year and genres), every text
    path reached in 5 epochs a validation NDCG@10 that the plain model reached after
    about 15. After a full training, the gain is small and uncertain. The
    recommended path is the frozen text view beside the ID embedding
    (``LLMEmbeddingInitializer(mode="frozen")``, LLM-ESR's dual view; the model
    centres the vectors). It ended level with the plain model on validation, and
    1.08x on test over five seeds (Wilcoxon p=0.15; not significant). The same
    vectors shuffled across items gave 1.02x; the text's meaning shows mostly on
    long-tail items (1.24x, against 0.92x shuffled). A PCA init
    (``mode="init"``, Harte et al.) peaked at 10-25 epochs on validation and then
    declined. Stopped at 20 epochs, it scored 1.18x on test (p=0.14) with 2.5x fewer
    epochs. Use it with ``early_stopping=True`` or fewer epochs, not for a full
    training. Side features ended about 6% below plain on validation. With five
    held-out rows per user and both models tuned on validation, the frozen view was
    1.05x a 100-epoch plain model (p=0.71), and 0.85x on long-tail items. Text does
    not significantly lift a tuned SASRec on this data. Numbers:
    ``benchmarks/results/sasrec_text_diagnosis.md``, ``sasrec_text_test.md`` and
    ``sasrec_text_last5.md``.

    **Rows.** Row weights multiply the loss of the position whose target the row is;
    augmented rows are part of the history both when training and when serving
    (:class:`~skllmers.LLMInteractionAugmenter` times them just before the user's
    latest real row, so a sequence still ends with, and serves from, real history). Rows of weight 0 are dropped. Early stopping
    holds out the latest row of a share ``validation_fraction`` of the users.

    References
    ----------
    W.-C. Kang and J. McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018.

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.recommenders import SASRecRecommender
    >>> cycle = ["a", "b", "c", "d"]
    >>> df = pd.DataFrame({{"user_id": [u for u in range(8) for _ in range(6)],
    ...                    "item_id": [cycle[(u + t) % 4] for u in range(8) for t in range(6)],
    ...                    "t": [t for u in range(8) for t in range(6)]}})
    >>> data = InteractionData.from_pandas(df, time_col="t", duplicates="keep")
    >>> model = SASRecRecommender(n_factors=8, max_len=5, epochs=60, batch_size=8,
    ...                           learning_rate=0.02, dropout=0.0, random_state=0)
    >>> model = model.fit(data)
    >>> model.recommend([0], k=1, exclude_seen=False)["item_id"].tolist()
    ['c']
    """.format(
        common=COMMON_PARAMETERS.format(
            epochs=50, batch_size=128, learning_rate=5e-3, weight_decay=0.0,
            loss="sampled_softmax", batch_unit="History windows",
            validation="Share of the users whose latest real row is held out for early "
                       "stopping (users with at least 3 real rows)."),
        attributes=COMMON_ATTRIBUTES,
    )

    _parameter_constraints: dict = {
        **TorchRecommender._parameter_constraints,
        "max_len": [Interval(Integral, 1, None, closed="left")],
        "n_layers": [Interval(Integral, 0, None, closed="left")],
        "n_heads": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    _unsupported_artifacts = {
        "user_features": "SASRec represents a user by the sequence of their items and has "
                         "no user embedding to add features to. Give the information to the "
                         "items (item_features), or use BPRRecommender / LightGCNRecommender.",
        "user_embeddings": "SASRec represents a user by the sequence of their items and "
                           "has no user embedding table to start from given vectors. Use "
                           "LLMEmbeddingInitializer(target='items'), or BPRRecommender / "
                           "LightGCNRecommender.",
        "negatives": "its negatives are drawn for each position of a sequence, and a "
                     "(user, positive, negative) triple has no position. Use "
                     "BPRRecommender or LightGCNRecommender for explicit negatives.",
    }

    def __init__(self, n_factors=64, *, max_len=50, n_layers=2, n_heads=1, dropout=0.2,
                 epochs=50, batch_size=128, learning_rate=5e-3, weight_decay=0.0,
                 loss="sampled_softmax", n_negatives=None, adapter="linear",
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=5,
                 device="auto", random_state=None, verbose=False):
        self.n_factors = n_factors
        self.max_len = max_len
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.dropout = dropout
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

    def _holdout(self, rows: TrainingRows, rng: np.random.Generator) -> np.ndarray:
        return rows.last_row_holdout(rng, self.validation_fraction)

    def _setup(self, train: TrainingRows, rows: TrainingRows, hooks: Hooks) -> _State:
        refuse_generative(hooks.guidance, type(self).__name__)
        if self.n_factors % self.n_heads:
            raise ValueError(f"n_heads={self.n_heads} must divide n_factors={self.n_factors} "
                             "(each head gets n_factors / n_heads dimensions).")
        windows = training_windows(train, self.max_len)
        if len(windows) == 0:
            raise ValueError("SASRecRecommender needs a user with at least 2 training rows "
                             "(an item followed by a next item); none has.")
        module = _SASRec(item_embedding(rows.n_items, self.n_factors, hooks, self.adapter),
                         self.max_len, self.n_layers, self.n_heads, self.dropout)
        known = KnownPairs(rows.users, rows.items, rows.n_users, rows.n_items)
        return _State(module.to(self.device_), windows, known, train, rows)

    def _batches(self, state: _State, rng: np.random.Generator):
        windows, n_items = state.windows, state.rows.n_items
        order = rng.permutation(len(windows))
        users, items, weights = windows.users[order], windows.items[order], windows.weights[order]
        k = self._negatives_per_sample()
        negatives = shared = None
        if self.loss == "sampled_softmax":
            n_batches = -(-len(users) // self.batch_size)
            shared = self._tensor(rng.integers(n_items, size=(n_batches, k)))
        else:
            negatives = self._position_negatives(rng, windows, order, state.known, k)
        users, items, weights = map(self._tensor, (users, items, weights))
        for b, start in enumerate(range(0, len(users), self.batch_size)):
            part = slice(start, start + self.batch_size)
            yield _Batch(users[part], items[part], weights[part],
                         None if negatives is None else negatives[part],
                         None if shared is None else shared[b])

    def _position_negatives(self, rng, windows: Windows, order, known, k) -> torch.Tensor:
        """(W, L, k) negatives of each position with a target (0 elsewhere)."""
        real = windows.has_target()[order]
        position_users = np.broadcast_to(windows.users[order, None], real.shape)[real]
        negatives = np.zeros(real.shape + (k,), dtype=np.int64)
        negatives[real] = sample_negatives(rng, position_users, windows.pad, known, k)
        return self._tensor(negatives)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.device_)

    def _batch_loss(self, state: _State, batch: _Batch, guidance) -> torch.Tensor:
        module = state.module
        inputs, targets = batch.items[:, :-1], batch.items[:, 1:]
        hidden = module(inputs)
        real = inputs != module.items.n  # see Windows.has_target
        states, codes = hidden[real], targets[real]
        positive_rows = module.items(codes)
        positive = (states * positive_rows).sum(dim=1)
        if batch.shared is not None:
            negative_rows = module.items(batch.shared)
            negative = states @ negative_rows.T
            valid = batch.shared.unsqueeze(0) != codes.unsqueeze(1)
        else:
            negative_rows = module.items(batch.negatives[real])
            negative = (negative_rows * states.unsqueeze(1)).sum(dim=2)
            valid = None
        per_position = ranking_loss(self.loss, positive, negative, valid)
        loss = (per_position * batch.weights[:, 1:][real]).mean()
        if self.weight_decay:
            loss = loss + self.weight_decay * l2_penalty([positive_rows, negative_rows],
                                                          len(codes))
        if guidance is not None:
            side_codes = {"users": batch.users, "items": codes}
            picks = {side: guidance.select(side, c) for side, c in side_codes.items()}
            term = guidance_loss(guidance, picks, side_codes,
                                 {"users": hidden[:, -1], "items": positive_rows})
            loss = loss if term is None else loss + term
        return loss

    @torch.no_grad()
    def _factors(self, state: _State, serving: bool):
        module = state.module.eval()
        rows = state.rows if serving else state.train
        histories = latest_histories(rows, self.max_len)
        users = np.zeros((rows.n_users, self.n_factors), dtype=np.float32)
        has_history = np.flatnonzero(histories[:, -1] != rows.n_items)
        for start in range(0, len(has_history), _ENCODE_CHUNK):
            chunk = has_history[start:start + _ENCODE_CHUNK]
            users[chunk] = to_numpy(module(self._tensor(histories[chunk]))[:, -1])
        return users, to_numpy(module.items())
