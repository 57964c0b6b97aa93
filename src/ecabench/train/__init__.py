"""Training: SGD + Nesterov, cosine schedule with linear warm-up, label smoothing.

* Seeded and deterministic on CPU: the same config run twice gives bit-identical metrics.
* bf16 autocast only on CUDA; channels_last (NHWC) on every device (faster with cuDNN and oneDNN).
* A checkpoint after each epoch lets :func:`train` resume a killed run to exactly the metrics of an
  uninterrupted one (the batch order of an epoch depends only on ``(seed, epoch)``).
* A non-finite loss stops training with status ``"diverged"`` (no exception).

The caller seeds before building the model (``seed_everything(cfg.seed)``) so that the initial
weights are seeded too; :func:`train` seeds again at its start for everything after that.

What to do is a :class:`ecabench.runconfig.TrainConfig`. Modules: :mod:`.config` (what came out),
:mod:`.device`, :mod:`.seeding` (seeds, determinism, RNG states), :mod:`.optim` (optimizer, LR
schedule), :mod:`.evaluation`, :mod:`.checkpoint` (save, validate, resume) and :mod:`.loop`
(:func:`train` itself).
"""

from ecabench.device import resolve_device
from ecabench.train.checkpoint import CHECKPOINT_FORMAT
from ecabench.train.config import TrainResult
from ecabench.train.evaluation import evaluate
from ecabench.train.loop import SYNC_EVERY, train
from ecabench.train.optim import build_optimizer, lr_factor
from ecabench.train.seeding import seed_everything, set_deterministic

__all__ = [
    "CHECKPOINT_FORMAT",
    "SYNC_EVERY",
    "TrainResult",
    "build_optimizer",
    "evaluate",
    "lr_factor",
    "resolve_device",
    "seed_everything",
    "set_deterministic",
    "train",
]
