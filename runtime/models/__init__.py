"""The models mixc trains: dense, MoE and MoLE decoders over shared blocks (see README.md).

`ModelConfig(shape).build()` is the one way to construct a model; importing this
package imports torch. The kinds are registered here, in one place: a new kind is
one module with its feed-forward, one line below, and its rules in `mixc.shape`.
"""

from mixc.runtime.models.dense import DenseFeedForward
from mixc.runtime.models.moe import MoEFeedForward
from mixc.runtime.models.mole import MoLEFeedForward
from mixc.runtime.models.registry import register
from mixc.runtime.models.transformer import ModelConfig, Output, RouterConfig, Transformer

register("dense", DenseFeedForward)
register("moe", MoEFeedForward)
register("mole", MoLEFeedForward)

__all__ = ["ModelConfig", "Output", "RouterConfig", "Transformer"]
