"""Fixtures of the model-enhancement tests; doubles live in _me_doubles."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # any --import-mode finds the doubles

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from skllmers import InteractionData  # noqa: E402


@pytest.fixture
def small_data():
    """Four items (one with no text, one cold), three users, timestamps."""
    items = pd.DataFrame(
        {"title": ["galaxy rocket", "whisk dough", "", "coral reef"],
         "genre": ["space", "cooking", None, "ocean"]},
        index=pd.Index(["a", "b", "c", "d"], name="item_id"),
    )
    rows = pd.DataFrame({
        "user_id": [1, 1, 1, 2, 2, 3],
        "item_id": ["a", "b", "c", "b", "a", "c"],
        "t": [1, 2, 3, 1, 2, 1],
    })
    return InteractionData.from_pandas(rows, items, time_col="t")


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Train on one thread: on a shared, busy CPU, torch's default pool spins and is
    20-100x slower for these small models."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
