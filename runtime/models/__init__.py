"""The models mixc trains: dense, MoE and MoLE decoders over shared blocks (see README.md).

`ModelConfig(shape).build()` is the one way to construct a model; importing this
package imports torch.
"""

from mixc.runtime.models.common import ModelConfig, Output, RouterConfig

__all__ = ["ModelConfig", "Output", "RouterConfig"]
