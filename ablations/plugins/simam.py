"""SimAM (Yang et al., ICML 2021): a parameter-free attention, as an example local plugin.

Each activation is weighted by an energy that measures how much it stands out from the other
positions of its channel: y = x * sigmoid(d / (4 * (sum(d) / n + lambda)) + 0.5), with
d = (x - mean)^2 over the H*W positions and n = H*W - 1 (the authors' reference code).
Registering it is all a plugin does; it then works in specs, configs, the workflow and the report.
"""
import torch

from ecabench.attention.base import AttentionVariant
from ecabench.registry import register_attention


@register_attention("simam")
class SimAM(AttentionVariant):
    def __init__(self, channels: int, e_lambda: float = 1e-4):
        super().__init__()
        self.check_params({"e_lambda": e_lambda})
        self.channels = channels
        self.e_lambda = float(e_lambda)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[2] * x.shape[3] - 1
        d = (x - x.mean((2, 3), keepdim=True)).pow(2)
        y = d / (4 * (d.sum((2, 3), keepdim=True) / max(n, 1) + self.e_lambda)) + 0.5
        return x * torch.sigmoid(y)

    @classmethod
    def check_params(cls, params: dict) -> None:
        e_lambda = params["e_lambda"]
        if not isinstance(e_lambda, (int, float)) or isinstance(e_lambda, bool) or e_lambda <= 0:
            raise ValueError(f"simam: e_lambda must be a number > 0, got {e_lambda!r}")

    def resolved_params(self) -> dict:
        return {"e_lambda": self.e_lambda}
