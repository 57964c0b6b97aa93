"""The built-in attention variants, one plain PyTorch module per file (registered by ``ecabench.builtins``)."""
from ecabench.attention.cbam import CBAM
from ecabench.attention.eca import ECA, adaptive_kernel_size, same_padding_1d
from ecabench.attention.eca_ns import ECANS
from ecabench.attention.none import NoAttention
from ecabench.attention.se import SE
from ecabench.attention.se_gc import SEGC
from ecabench.attention.se_var import SEVar1, SEVar2, SEVar3

__all__ = ["CBAM", "ECA", "ECANS", "NoAttention", "SE", "SEGC", "SEVar1", "SEVar2", "SEVar3", "adaptive_kernel_size",
           "same_padding_1d"]
