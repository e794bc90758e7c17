"""LLMSelect with a real instruct model (SmolLM2-135M-Instruct): picks follow the items.

A grammar-constrained choice among numbered candidates made this model pick the
same popularity position for every user; scoring each candidate on its own must
give the same picks under any seed and any candidate order, spread over positions.
"""

import numpy as np
import pytest

from skllmers import InteractionData
from skllmers.datasets import load_movielens
from skllmers.interaction import LLMInteractionAugmenter, LLMSelect, _retrievers
from skllmers.llm import LlamaCppLLM

N_USERS, N_CANDIDATES = 20, 5


@pytest.fixture(scope="module")
def movielens_users():
    """The first users of ml-latest-small, their equal times made distinct by file order.

    (Equal times are ordered by the seed, which would change a history between seeds.)
    """
    data = load_movielens("latest-small")
    users = np.unique(data.user_codes)[:N_USERS]
    frame = data.take(np.flatnonzero(np.isin(data.user_codes, users))).to_pandas()
    frame["timestamp"] = frame["timestamp"] * 10_000 + frame.groupby("user_id").cumcount()
    return InteractionData.from_pandas(frame, data.items, time_col="timestamp",
                                       rating_col="rating")


def _picks(smollm2_path, data, random_state):
    llm = LlamaCppLLM(model_path=smollm2_path, n_threads=1, n_ctx=1024, chat_format="auto",
                      cache=None, verbose=0)
    augmenter = LLMInteractionAugmenter(
        llm, max_history=5, random_state=random_state,
        strategy=LLMSelect(n_candidates=N_CANDIDATES, scoring="pmi"))
    augmenter.fit_resample(data)
    edits = augmenter.edited_rows_
    return dict(zip(edits["user_id"], edits["item_id"], strict=True)), edits


def test_picks_follow_the_candidates_not_their_order(smollm2_path, movielens_users,
                                                     monkeypatch):
    picks, edits = _picks(smollm2_path, movielens_users, random_state=0)
    assert len(picks) == N_USERS and np.isfinite(edits["score"]).all()
    positions = np.bincount(edits["retriever_rank"].astype(int), minlength=N_CANDIDATES + 1)
    assert positions.max() <= N_USERS / 2, positions  # no position takes a majority
    assert _picks(smollm2_path, movielens_users, random_state=1)[0] == picks

    original = _retrievers.PopularityRetriever.candidates

    def reversed_candidates(self, user_codes, n, exclude):
        out = original(self, user_codes, n, exclude)
        for row in out:
            row[row >= 0] = row[row >= 0][::-1]
        return out

    monkeypatch.setattr(_retrievers.PopularityRetriever, "candidates", reversed_candidates)
    reversed_picks, reversed_edits = _picks(smollm2_path, movielens_users, random_state=0)
    assert reversed_picks == picks
    np.testing.assert_allclose(reversed_edits["score"], edits["score"], atol=1e-4)
