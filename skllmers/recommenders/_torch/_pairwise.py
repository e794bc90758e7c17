"""Training on (user, positive item, negative items) samples: BPR and LightGCN."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace

import numpy as np
import torch
import torch.nn.functional as F

from ._losses import ranking_loss
from ._rows import TrainingRows
from ._sampling import KnownPairs, sample_negatives

__all__ = ["BatchItemRows", "PairwiseBatch", "PairwiseSampler", "pairwise_loss"]


@dataclass(frozen=True)
class PairwiseBatch:
    """One batch of samples, on the model's device.

    Attributes
    ----------
    users, items : LongTensor (B,)
        The user and the positive item of each sample.
    weights : Tensor (B,)
        Row weights; they multiply each sample's loss.
    negatives : LongTensor (B, K) or None
        Each sample's own sampled negatives (``loss="bpr"`` or ``"bce"``).
    shared : LongTensor (K,) or None
        Negatives shared by the whole batch (``loss="sampled_softmax"``).
    explicit : LongTensor (B,) or None
        The explicit negative of a triple's sample, -1 for the other samples.
    valid : BoolTensor (B, K) or None
        ``False`` where a sampled negative is an item the user knows, which then does
        not count (popularity sampling; uniform sampling redraws those instead).
    """

    users: torch.Tensor
    items: torch.Tensor
    weights: torch.Tensor
    negatives: torch.Tensor | None
    shared: torch.Tensor | None
    explicit: torch.Tensor | None
    valid: torch.Tensor | None = None

    def sample_slice(self, rows: slice) -> PairwiseBatch:
        """The samples ``rows`` of this batch (``shared`` is kept whole)."""
        return replace(self, **{
            field.name: getattr(self, field.name)[rows] for field in fields(self)
            if field.name != "shared" and getattr(self, field.name) is not None})


class PairwiseSampler:
    """An epoch is every training row and every explicit triple once, shuffled.

    For ``"bpr"`` and ``"bce"`` each sample gets ``n_negatives`` items drawn uniformly
    among those its user does not know, or, with ``popularity=True``, drawn from the
    training rows' items (so in proportion to their popularity, as implicit's BPR),
    where a draw the user knows does not count (``PairwiseBatch.valid``) rather than
    being redrawn, again as implicit; for ``"sampled_softmax"`` each batch draws
    ``n_negatives`` uniform items shared by all its samples. An explicit (user,
    positive, negative) triple is a sample of its (user, positive) like a row, and
    carries its negative in ``explicit`` (see :func:`pairwise_loss`). Everything is
    drawn with numpy for the whole epoch at once.

    Parameters
    ----------
    rows : TrainingRows
    known : KnownPairs
        Pairs never drawn as negatives (all training rows, validation rows included).
    triples : ndarray (m, 3) or None
        Explicit negatives. A triple whose (user, positive) is a training row gives
        that row's sample its explicit negative (at the row's weight, e.g. an
        augmented row's ``augmented_weight``); any other triple is one more sample
        of weight 1.
    loss : str
    n_negatives, batch_size : int
    device : torch.device
    popularity : bool, default=False
    """

    def __init__(self, rows: TrainingRows, known: KnownPairs, triples, *, loss: str,
                 n_negatives: int, batch_size: int, device: torch.device,
                 popularity: bool = False):
        self.known, self.n_items = known, rows.n_items
        self.loss, self.n_negatives = loss, n_negatives
        self.batch_size, self.device = batch_size, device
        self._popular = rows.items.astype(np.int64) if popularity else None
        users, items, weights = rows.users, rows.items, rows.weights
        explicit = None
        if triples is not None and len(triples):
            explicit, extra = _attach_triples(rows, triples)
            users = np.concatenate([users, triples[extra, 0]])
            items = np.concatenate([items, triples[extra, 1]])
            weights = np.concatenate([weights, np.ones(len(extra), np.float32)])
            explicit = np.concatenate([explicit, triples[extra, 2]])
        self._samples = (users, items, weights, explicit)

    def __len__(self) -> int:
        return len(self._samples[0])

    def epoch(self, rng: np.random.Generator) -> Iterator[PairwiseBatch]:
        """The epoch's samples in batches of ``batch_size``."""
        samples, shared = self._draw(rng)
        for b, start in enumerate(range(0, len(samples.users), self.batch_size)):
            batch = samples.sample_slice(slice(start, start + self.batch_size))
            yield batch if shared is None else replace(batch, shared=shared[b])

    def draw(self, rng: np.random.Generator) -> PairwiseBatch:
        """The epoch's samples as one batch, in order; the same draws as :meth:`epoch`.

        Not for ``"sampled_softmax"``, whose negatives are drawn per batch.
        """
        if self.loss == "sampled_softmax":
            raise ValueError("sampled_softmax draws its negatives per batch: use epoch().")
        return self._draw(rng)[0]

    def _draw(self, rng: np.random.Generator):
        users, items, weights, explicit = self._samples
        order = rng.permutation(len(users))
        users, items, weights = users[order], items[order], weights[order]
        explicit = None if explicit is None else explicit[order]
        negatives = shared = valid = None
        if self.loss == "sampled_softmax":
            n_batches = -(-len(users) // self.batch_size)
            shared = self._tensor(rng.integers(self.n_items, size=(n_batches, self.n_negatives)))
        elif self._popular is not None:
            draws = self._popular[rng.integers(len(self._popular),
                                               size=(len(users), self.n_negatives))]
            valid = self._tensor(~self.known.contains(users[:, None], draws))
            negatives = self._tensor(draws)
        else:
            negatives = self._tensor(
                sample_negatives(rng, users, self.n_items, self.known, self.n_negatives))
        users, items, weights = map(self._tensor, (users, items, weights))
        explicit = None if explicit is None else self._tensor(explicit)
        return PairwiseBatch(users, items, weights, negatives, None, explicit, valid), shared

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)


def _attach_triples(rows: TrainingRows, triples: np.ndarray):
    """Explicit negative of each row's sample (-1: none), and the triples left over.

    Each triple goes to one row of its (user, positive) pair, if the pair has a row
    not yet given a triple, so a positive is never sampled twice for its triple.
    """
    explicit = np.full(len(rows), -1, np.int64)
    keys = rows.users * rows.n_items + rows.items
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    wanted = triples[:, 0] * rows.n_items + triples[:, 1]
    # The k-th triple of a pair takes the k-th row of that pair.
    by_pair = np.argsort(wanted, kind="stable")
    first = np.searchsorted(wanted[by_pair], wanted[by_pair], side="left")
    occurrence = np.empty(len(triples), np.int64)
    occurrence[by_pair] = np.arange(len(triples)) - first
    start = np.searchsorted(sorted_keys, wanted, side="left")
    stop = np.searchsorted(sorted_keys, wanted, side="right")
    attached = start + occurrence < stop
    explicit[order[start[attached] + occurrence[attached]]] = triples[attached, 2]
    return explicit, np.flatnonzero(~attached)


def pairwise_loss(kind: str, batch: PairwiseBatch, user_rows: torch.Tensor,
                  item_rows: Callable[[torch.Tensor], torch.Tensor]):
    """Weighted mean ranking loss of a batch, and the item rows it used.

    A sample's loss is the ranking loss of its positive against its sampled
    negatives; a sample with an explicit negative adds the BPR term
    ``-log sigmoid(pos - explicit)`` (LLMRec's triples), whatever ``kind``, so an
    explicit negative weighs as much as the whole sampled term.

    Parameters
    ----------
    kind : str
        See :func:`ranking_loss`.
    batch : PairwiseBatch
    user_rows : Tensor (B, d)
        The batch users' representations.
    item_rows : callable
        1-D item codes -> representations ``(n, d)``. It is called once, for all the
        batch's items (one gather, one gradient scatter).

    Returns
    -------
    loss : Tensor, scalar
    positive_rows : Tensor (B, d)
    used_rows : list of Tensor
        Every item row the batch used (explicit rows zeroed for samples without
        one), for an L2 penalty.
    """
    rows = BatchItemRows(batch, item_rows)
    if batch.shared is not None:
        positive = (user_rows * rows.positive).sum(dim=1)
        accidental_hit = batch.shared.unsqueeze(0) == batch.items.unsqueeze(1)
        per_sample = ranking_loss(kind, positive, user_rows @ rows.shared.T, ~accidental_hit)
    else:  # positive and negatives scored in one pass: (B, 1 + K)
        scores = (rows.per_sample * user_rows.unsqueeze(1)).sum(dim=2)
        positive = scores[:, 0]
        per_sample = ranking_loss(kind, positive, scores[:, 1:], batch.valid)
    if rows.explicit is not None:
        explicit = (user_rows * rows.explicit).sum(dim=1)
        per_sample = per_sample + F.softplus(explicit - positive) * (batch.explicit >= 0)
    return (per_sample * batch.weights).mean(), rows.positive, rows.used()


class BatchItemRows:
    """The representations of every item a batch uses, gathered in one call.

    Attributes
    ----------
    per_sample : Tensor (B, 1 + K, d) or None
        Each sample's positive then its sampled negatives (``"bpr"``, ``"bce"``).
    positive : Tensor (B, d)
    shared : Tensor (K, d) or None
        The batch's shared negatives (``"sampled_softmax"``).
    explicit : Tensor (B, d) or None
        Explicit negatives, zero rows for samples without one.
    """

    def __init__(self, batch: PairwiseBatch, item_rows: Callable[[torch.Tensor], torch.Tensor]):
        size = len(batch.items)
        if batch.shared is None:
            head = torch.cat([batch.items.unsqueeze(1), batch.negatives], dim=1).reshape(-1)
        else:
            head = torch.cat([batch.items, batch.shared])
        codes = head if batch.explicit is None else torch.cat(
            [head, batch.explicit.clamp_min(0)])
        # split, not slicing: its backward is one concatenation, not a zero-filled
        # copy of the whole gather per part
        gathered, explicit = item_rows(codes).split([len(head), len(codes) - len(head)])
        self.per_sample = self.shared = self.explicit = None
        if batch.shared is None:
            self.per_sample = gathered.view(size, -1, gathered.shape[1])
            self.positive = self.per_sample[:, 0]
        else:
            self.positive, self.shared = gathered.split([size, len(batch.shared)])
        if batch.explicit is not None:
            self.explicit = explicit * (batch.explicit >= 0).unsqueeze(1)
        self._gathered = gathered

    def used(self) -> list[torch.Tensor]:
        """Every row, once: for an L2 penalty."""
        return [self._gathered] + ([] if self.explicit is None else [self.explicit])
