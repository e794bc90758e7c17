"""Why BPRRecommender trails implicit's BPR: one training choice at a time, on validation.

Run by hand (about 10 minutes on one CPU thread)::

    .venv/bin/python benchmarks/diagnose_bpr_gap.py --seeds 3

Each seed splits ml-latest-small with the benchmark protocol (LeaveLastOut), then splits
the *training* part again the same way: every number here is NDCG@10 on those
validation rows, never on the test rows the other benchmarks report.

Variants: implicit's BPR; ``BPRRecommender`` with its defaults (Adam, uniform negatives
redrawn when the user knows them, initial std 0.1), with a smaller initial std, and
trained like implicit (``optimizer="sgd", negative_sampling="popularity"``); and
``MinibatchImplicitBPR``, implicit's algorithm written as minibatch SGD in torch (per-sample
step 0.01 and L2 0.01 as implicit, 100 epochs, negatives drawn from the interaction
list, so popularity-weighted, a sample skipped when the user knows its negative, an
item-bias column), with one of those choices changed at a time. Writes
``results/bpr_gap.md``.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import torch
from _protocol import RESULTS_DIR, leave_last_out, seeds_argument
from bench_torch import N_FACTORS, ImplicitBPR, implicit_style_bpr
from tqdm.auto import tqdm

from skllmers.datasets import load_movielens
from skllmers.metrics import evaluate
from skllmers.recommenders import BaseRecommender, BPRRecommender, FactorModelMixin


class MinibatchImplicitBPR(FactorModelMixin, BaseRecommender):
    """implicit's BPR update rule, in minibatches of summed per-sample SGD steps."""

    def __init__(self, batch_size=1024, popularity_negatives=True, redraw=False,
                 bias=True, init_std=0.029, random_state=0):
        self.batch_size = batch_size
        self.popularity_negatives = popularity_negatives
        self.redraw = redraw
        self.bias = bias
        self.init_std = init_std
        self.random_state = random_state

    def _fit(self, X, epochs=100, learning_rate=0.01, reg=0.01):
        rng = np.random.default_rng(self.random_state)
        coo = X.to_csr(values="ones").tocoo()
        users, items = coo.row.astype(np.int64), coo.col.astype(np.int64)
        known = np.zeros(X.n_users * X.n_items, bool)
        known[users * X.n_items + items] = True
        width = N_FACTORS + self.bias
        half = self.init_std * np.sqrt(3.0)  # uniform on [-half, half] has this std
        user_table = torch.tensor(rng.uniform(-half, half, (X.n_users, width)), dtype=torch.float32)
        item_table = torch.tensor(rng.uniform(-half, half, (X.n_items, width)), dtype=torch.float32)
        if self.bias:
            user_table[:, -1] = 1.0  # the user side of the item-bias column
        for _ in range(epochs):
            u, i, j = self._samples(rng, users, items, known, X.n_items)
            for start in range(0, len(u), self.batch_size):
                part = slice(start, start + self.batch_size)
                _sgd_step(user_table, item_table, u[part], i[part], j[part], learning_rate,
                          reg, self.bias)
        self.user_factors_ = user_table.numpy()
        self.item_factors_ = item_table.numpy()

    def _samples(self, rng, users, items, known, n_items):
        n = len(users)
        pick = rng.integers(n, size=n)  # positives with replacement, as implicit
        u, i = users[pick], items[pick]
        j = self._negatives(rng, items, n_items, n)
        hit = known[u * n_items + j]
        for _ in range(10 if self.redraw else 0):
            if not hit.any():
                break
            j[hit] = self._negatives(rng, items, n_items, int(hit.sum()))
            hit = known[u * n_items + j]
        keep = ~hit  # implicit skips a sample whose negative the user knows
        return (torch.from_numpy(u[keep]), torch.from_numpy(i[keep]),
                torch.from_numpy(j[keep]))

    def _negatives(self, rng, items, n_items, size):
        if self.popularity_negatives:
            return items[rng.integers(len(items), size=size)]
        return rng.integers(n_items, size=size)


def _sgd_step(user_table, item_table, u, i, j, learning_rate, reg, bias):
    user_rows, positive, negative = user_table[u], item_table[i], item_table[j]
    difference = positive - negative
    z = torch.sigmoid(-(user_rows * difference).sum(1, keepdim=True))
    user_grad = z * difference - reg * user_rows
    if bias:
        user_grad[:, -1] = 0.0
    user_table.index_add_(0, u, user_grad, alpha=learning_rate)
    item_table.index_add_(0, i, z * user_rows - reg * positive, alpha=learning_rate)
    item_table.index_add_(0, j, -z * user_rows - reg * negative, alpha=learning_rate)


VARIANTS = {
    "implicit BPR": lambda seed: ImplicitBPR(num_threads=1, random_state=seed),
    "BPRRecommender (defaults)": lambda seed: BPRRecommender(n_factors=N_FACTORS,
                                                             random_state=seed),
    "BPRRecommender, init std 0.01": lambda seed: BPRRecommender(
        n_factors=N_FACTORS, init_std=0.01, random_state=seed),
    "BPRRecommender, implicit-style": lambda seed: implicit_style_bpr("cpu", seed),
    "implicit's rule, minibatch": lambda seed: MinibatchImplicitBPR(random_state=seed),
    "  ... uniform negatives": lambda seed: MinibatchImplicitBPR(
        popularity_negatives=False, random_state=seed),
    "  ... known negatives redrawn": lambda seed: MinibatchImplicitBPR(
        redraw=True, random_state=seed),
    "  ... no item bias": lambda seed: MinibatchImplicitBPR(bias=False, random_state=seed),
    "  ... init std 0.1": lambda seed: MinibatchImplicitBPR(init_std=0.1, random_state=seed),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=seeds_argument, default=list(range(3)))
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_movielens("latest-small", verbose=False)
    scores = {name: [] for name in VARIANTS}
    for seed in tqdm(args.seeds, desc="seeds"):
        train, _ = leave_last_out(data, seed)  # the test rows stay unseen
        fit_rows, validation = leave_last_out(train, seed + 100)
        for name, make in VARIANTS.items():
            table = evaluate(make(seed), fit_rows, validation, ["ndcg"], k=10)
            scores[name].append(float(table["ndcg@10"].iloc[0]))
    reference = np.mean(scores["implicit BPR"])
    frame = pd.DataFrame([{
        "variant": name, "validation NDCG@10": f"{np.mean(v):.4f} ± {np.std(v):.4f}",
        "vs implicit": f"{np.mean(v) / reference - 1:+.1%}"} for name, v in scores.items()])
    markdown = frame.to_markdown(index=False)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "bpr_gap.md").write_text(
        f"Validation NDCG@10, seeds {args.seeds} (`diagnose_bpr_gap.py`)\n\n{markdown}\n")
    print(markdown)


if __name__ == "__main__":
    main()
