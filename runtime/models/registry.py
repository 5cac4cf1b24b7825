"""Model kinds by name: the feed-forward each kind puts in every block.

The package (`__init__.py`) registers each kind's feed-forward class here, and
`ModelConfig.build()` looks the kind up. This module imports no kind, so the
shared model code finds kinds without importing them (no import cycle). A kind's
shape rules and sizes live in `mixc.shape`, which the compiler reads without torch.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import torch

from mixc.runtime.models.layers import Init


class FeedForward(Protocol):
    """What a kind supplies to each block (an `nn.Module`)."""

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, T, d] -> (y [B, T, d], auxiliary loss: a fp32 scalar, zero for dense)."""

    def reset_parameters(self, init: Init) -> None:
        """Initialise its own weights, drawing from torch's generator in parameter order."""


# A ModelConfig -> the feed-forward of one block (typed loosely: the config lives above this module).
FeedForwardBuilder = Callable[[Any], FeedForward]

_FEED_FORWARDS: dict[str, FeedForwardBuilder] = {}


def register(kind: str, feed_forward: FeedForwardBuilder) -> None:
    """Make `kind` buildable: its blocks get `feed_forward(config)`."""
    if kind in _FEED_FORWARDS:
        raise ValueError(f"model kind {kind!r} is registered twice")
    _FEED_FORWARDS[kind] = feed_forward


def feed_forward_for(kind: str) -> FeedForwardBuilder:
    """The feed-forward builder registered for `kind`."""
    try:
        return _FEED_FORWARDS[kind]
    except KeyError:
        raise ValueError(f"model kind {kind!r} has no registered model (known: {sorted(_FEED_FORWARDS)})") from None
