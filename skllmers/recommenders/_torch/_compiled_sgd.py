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
    n_threads : int, default=1
        1: the samples in order, reproducibly. More: the samples split into that many
        contiguous parts stepped through at once by lock-free threads sharing the
        tables (Hogwild, as implicit), so the result depends on the threads' timing.
    """

    def __init__(self, users: torch.nn.Parameter, items: torch.nn.Parameter,
                 learning_rate: float, weight_decay: float, n_threads: int = 1):
        self.users, self.items = users, items
        self.learning_rate = float(learning_rate)
        self.weight_decay = float(weight_decay)
        self.n_threads = int(n_threads)

    def run_epoch(self, samples: PairwiseBatch) -> float:
        """Step through ``samples``; return the mean loss of the samples."""
        negatives = samples.negatives.numpy()
        valid = (np.ones(negatives.shape, dtype=np.bool_) if samples.valid is None
                 else samples.valid.numpy())
        arguments = (samples.users.numpy(), samples.items.numpy(), samples.weights.numpy(),
                     negatives, valid)
        # numpy views share the parameters' storage: the steps need no copy back
        tables = (self.users.detach().numpy(), self.items.detach().numpy(),
                  np.float32(self.learning_rate), np.float32(self.weight_decay))
        if self.n_threads == 1:
            total = _bpr_sgd(*arguments, *tables, 0, len(samples.users))
        else:
            total = self._hogwild(arguments, tables)
        return float(total) / max(len(samples.users), 1)

    def _hogwild(self, arguments, tables) -> float:
        """``n_threads`` parts, on as many of numba's threads as there are."""
        previous = numba.get_num_threads()
        numba.set_num_threads(min(self.n_threads, numba.config.NUMBA_NUM_THREADS))
        try:
            return _bpr_sgd_hogwild(*arguments, *tables, self.n_threads)
        finally:
            numba.set_num_threads(previous)


@numba.njit(cache=True, nogil=True, parallel=True)
def _bpr_sgd_hogwild(users, items, weights, negatives, valid, user_table, item_table,
                     learning_rate, weight_decay, n_parts):  # pragma: no cover (compiled)
    total = 0.0
    for part in numba.prange(n_parts):
        total += _bpr_sgd(users, items, weights, negatives, valid, user_table, item_table,
                          learning_rate, weight_decay, part * len(users) // n_parts,
                          (part + 1) * len(users) // n_parts)
    return total


@numba.njit(cache=True, nogil=True)
def _bpr_sgd(users, items, weights, negatives, valid, user_table, item_table,
             learning_rate, weight_decay, start, stop):  # pragma: no cover (compiled)
    """Step through the samples ``start:stop`` in order; return their summed loss."""
    if negatives.shape[1] == 1:
        return _one_negative(users, items, weights, negatives[:, 0], valid[:, 0], user_table,
                             item_table, learning_rate, weight_decay, start, stop)
    return _several_negatives(users, items, weights, negatives, valid, user_table,
                              item_table, learning_rate, weight_decay, start, stop)


@numba.njit(nogil=True, fastmath=True)
def _one_negative(users, items, weights, negatives, valid, user_table, item_table,
                  learning_rate, weight_decay, start, stop):  # pragma: no cover (compiled)
    """:func:`_several_negatives` for one negative per sample: one pass per step."""
    total = 0.0
    for s in range(start, stop):
        user = user_table[users[s]]
        positive, negative = item_table[items[s]], item_table[negatives[s]]
        score_positive = score_negative = squares = np.float32(0.0)
        for f in range(len(user)):
            score_positive += user[f] * positive[f]
            score_negative += user[f] * negative[f]
            squares += user[f] * user[f] + positive[f] * positive[f] + negative[f] * negative[f]
        d_negative = np.float32(0.0)
        if valid[s]:
            softplus, sigmoid = _softplus_and_sigmoid(score_negative - score_positive)
            total += softplus * weights[s]
            d_negative = np.float32(weights[s] * sigmoid)
        total += 0.5 * weight_decay * squares
        if items[s] == negatives[s]:  # one row: its two score steps cancel, not its L2
            for f in range(len(user)):
                user[f] -= learning_rate * weight_decay * user[f]
                positive[f] -= learning_rate * 2 * weight_decay * positive[f]
        else:
            _step_pair(user, positive, negative, -d_negative, d_negative, learning_rate,
                       weight_decay)
    return total


@numba.njit(nogil=True, fastmath=True)
def _several_negatives(users, items, weights, negatives, valid, user_table, item_table,
                       learning_rate, weight_decay, start, stop):  # pragma: no cover
    n_codes, width = 1 + negatives.shape[1], user_table.shape[1]
    codes = np.empty(n_codes, dtype=np.int64)  # the positive, then the negatives
    scores = np.empty(n_codes, dtype=np.float32)
    d_scores = np.zeros(n_codes, dtype=np.float32)
    user_step = np.empty(width, dtype=np.float32)
    item_steps = np.empty((n_codes, width), dtype=np.float32)
    total = 0.0
    for s in range(start, stop):
        user = user_table[users[s]]
        codes[0] = items[s]
        codes[1:] = negatives[s]
        counted = max(valid[s].sum(), 1)
        squares = _score(user, item_table, codes, scores)
        ranking, d_scores[0] = 0.0, 0.0
        for k in range(1, n_codes):
            d_scores[k] = 0.0
            if valid[s, k - 1]:
                softplus, sigmoid = _softplus_and_sigmoid(scores[k] - scores[0])
                ranking += softplus
                d_scores[k] = weights[s] / counted * sigmoid
                d_scores[0] -= d_scores[k]
        total += ranking / counted * weights[s] + 0.5 * weight_decay * squares
        _step(user, item_table, codes, d_scores, learning_rate, weight_decay, user_step,
              item_steps)
    return total


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


@numba.njit(inline="always", fastmath=True)
def _step_pair(user, positive, negative, d_positive, d_negative, learning_rate,
               weight_decay):  # pragma: no cover (compiled)
    """:func:`_step` of a positive and another item, in one pass."""
    for f in range(len(user)):
        u, p, n = user[f], positive[f], negative[f]
        user[f] = u - learning_rate * (weight_decay * u + d_positive * p + d_negative * n)
        positive[f] = p - learning_rate * (d_positive * u + weight_decay * p)
        negative[f] = n - learning_rate * (d_negative * u + weight_decay * n)


@numba.njit(inline="always", fastmath=True)
def _softplus_and_sigmoid(x):  # pragma: no cover (compiled)
    """``log(1 + e^x)`` and ``1 / (1 + e^-x)``, stable, from one exponential."""
    z = math.exp(-abs(x))
    softplus = max(x, 0.0) + math.log1p(z)
    return softplus, (1.0 if x >= 0 else z) / (1.0 + z)
