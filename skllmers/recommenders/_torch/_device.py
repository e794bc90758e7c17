"""Where a torch recommender runs, and how one ``random_state`` seeds all of it."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.utils import check_random_state

__all__ = ["Seeds", "resolve_device", "seeded_torch"]


def resolve_device(device) -> torch.device:
    """The torch device that ``device`` names; ``"auto"`` is CUDA when torch sees a GPU."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a torch device; use 'auto', 'cpu', 'cuda' or "
            "'cuda:<index>'."
        ) from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} but torch sees no CUDA GPU (torch.cuda.is_available() is "
            "False); use device='auto' or 'cpu'."
        )
    return resolved


@contextmanager
def seeded_torch(seed: int, device: torch.device):
    """Seed torch's global generators for a block, and restore them afterwards.

    Fitting a model then neither depends on nor changes the caller's torch random
    state, and the same seed gives the same result on CPU.
    """
    devices = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@dataclass(frozen=True)
class Seeds:
    """Independent random streams drawn from one ``random_state``.

    Each consumer has its own stream, so switching one part on or off (a guidance loss,
    early stopping) leaves the others' draws unchanged: ``weight=0`` guidance trains
    exactly the unguided model.

    Attributes
    ----------
    torch : int
        Seed of the model's parameters and dropout.
    sampling : numpy.random.Generator
        Shuffling and negative sampling.
    split : numpy.random.Generator
        The validation split and tie-breaks between equal timestamps.
    guidance : int
        Seed of the guidance heads and of which rows each batch aligns.
    """

    torch: int
    sampling: np.random.Generator
    split: np.random.Generator
    guidance: int

    @classmethod
    def from_random_state(cls, random_state) -> Seeds:
        root = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
        torch_seq, sampling_seq, split_seq, guidance_seq = np.random.SeedSequence(root).spawn(4)
        return cls(
            torch=int(torch_seq.generate_state(1)[0]),
            sampling=np.random.default_rng(sampling_seq),
            split=np.random.default_rng(split_seq),
            guidance=int(guidance_seq.generate_state(1)[0]),
        )
