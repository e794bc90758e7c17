"""BPR by SGD one sample at a time, compiled with numba: implicit's loop, for the CPU.

With ``optimizer="sgd"`` and ``batch_size=1`` every sample moves the rows it uses
before the next sample is scored. In torch that is a dozen operator calls per sample;
here it is one compiled loop over the epoch that updates the embedding tables in
place, as implicit's Cython BPR does. It takes exactly the steps of the torch path
(:class:`~._analytic.AnalyticBPR` on batches of one sample, then ``torch.optim.SGD``)
on the same samples, so the two agree to float32 rounding.

Import this module only when it is used: numba takes a third of a second to import.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch

from ._pairwise import PairwiseBatch

__all__ = ["CompiledBPR"]


class CompiledBPR:
    """One epoch of per-sample BPR SGD on two CPU embedding tables, in place.

    Parameters
    ----------
    users, items : torch.nn.Parameter of shape (n, d), on the CPU
        The tables; they are updated through numpy views of their storage.
    learning_rate : float
        The step of each sample.
    weight_decay : float
        L2 penalty on the rows a sample uses (half their squared norm).
    """

    def __init__(self, users: torch.nn.Parameter, items: torch.nn.Parameter,
                 learning_rate: float, weight_decay: float):
        self.users, self.items = users, items
        self.learning_rate = float(learning_rate)
        self.weight_decay = float(weight_decay)

    def run_epoch(self, samples: PairwiseBatch) -> float:
        """Step through ``samples`` in order; return the mean loss of the samples."""
        negatives = samples.negatives.numpy()
        valid = (np.ones(negatives.shape, dtype=np.bool_) if samples.valid is None
                 else samples.valid.numpy())
        with torch.no_grad():  # numpy views share the parameters' storage: no copy back
            return float(_bpr_sgd_epoch(
                samples.users.numpy(), samples.items.numpy(), samples.weights.numpy(),
                negatives, valid, self.users.detach().numpy(), self.items.detach().numpy(),
                np.float32(self.learning_rate), np.float32(self.weight_decay)))


@numba.njit(cache=True, nogil=True, fastmath=True)
def _bpr_sgd_epoch(users, items, weights, negatives, valid, user_table, item_table,
                   learning_rate, weight_decay):  # pragma: no cover (compiled)
    n_codes, width = 1 + negatives.shape[1], user_table.shape[1]
    codes = np.empty(n_codes, dtype=np.int64)  # the positive, then the negatives
    scores = np.empty(n_codes, dtype=np.float32)
    d_scores = np.zeros(n_codes, dtype=np.float32)
    user_step = np.empty(width, dtype=np.float32)
    item_steps = np.empty((n_codes, width), dtype=np.float32)
    total = 0.0
    for s in range(len(users)):
        user = user_table[users[s]]
        codes[0] = items[s]
        codes[1:] = negatives[s]
        counted = max(valid[s].sum(), 1)
        squares = _score(user, item_table, codes, scores)
        ranking, d_scores[0] = 0.0, 0.0
        for k in range(1, n_codes):
            d_scores[k] = 0.0
            if valid[s, k - 1]:
                margin = scores[k] - scores[0]
                ranking += _softplus(margin)
                d_scores[k] = weights[s] / counted * _sigmoid(margin)
                d_scores[0] -= d_scores[k]
        total += ranking / counted * weights[s] + 0.5 * weight_decay * squares
        _step(user, item_table, codes, d_scores, learning_rate, weight_decay, user_step,
              item_steps)
    return total / max(len(users), 1)


@numba.njit(inline="always", fastmath=True)
def _score(user, item_table, codes, scores):  # pragma: no cover (compiled)
    """Write the rows' scores into ``scores``; return the squared norm of all rows."""
    squares = np.float32(0.0)
    for f in range(len(user)):
        squares += user[f] * user[f]
    for k in range(len(codes)):  # the score and the squared norm in one pass per row
        item = item_table[codes[k]]
        score = np.float32(0.0)
        for f in range(len(user)):
            score += user[f] * item[f]
            squares += item[f] * item[f]
        scores[k] = score
    return squares


@numba.njit(inline="always", fastmath=True)
def _step(user, item_table, codes, d_scores, learning_rate, weight_decay, user_step,
          item_steps):  # pragma: no cover (compiled)
    """One SGD step of the user's row and the items' rows, in place."""
    # every step from the rows as they were, so a repeated item gets both its steps
    for f in range(len(user)):
        user_step[f] = weight_decay * user[f]
    for k in range(len(codes)):
        item = item_table[codes[k]]
        for f in range(len(user)):
            user_step[f] += d_scores[k] * item[f]
            item_steps[k, f] = d_scores[k] * user[f] + weight_decay * item[f]
    for f in range(len(user)):
        user[f] -= learning_rate * user_step[f]
    for k in range(len(codes)):
        item = item_table[codes[k]]
        for f in range(len(user)):
            item[f] -= learning_rate * item_steps[k, f]


@numba.njit(inline="always")
def _softplus(x):  # pragma: no cover (compiled)
    return x + math.log1p(math.exp(-x)) if x > 0 else math.log1p(math.exp(x))


@numba.njit(inline="always")
def _sigmoid(x):  # pragma: no cover (compiled)
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)
