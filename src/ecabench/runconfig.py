"""What one run is: its normalised, validated config, its id, its training recipe and its input shape.

``make_run_config`` checks everything a run needs (spec, backbone, per-stage lengths, dataset name
and split sizes, training recipe) and returns the normalised config whose hash is the run id, so
bad input fails in milliseconds and before any data is read. The device and the data root are how
a run is executed, not what it is: they are not part of the config.

This module trains nothing, reads no data and measures nothing, so the planner (:mod:`ecabench.plan`)
uses it as the experiment (:mod:`ecabench.experiment`), training and tuning do: one definition of a
run for all of them. It reads the dataset catalog (static facts) and describes architectures on the
meta device (:func:`ecabench.models.describe`).
"""
from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ecabench.data.catalog import dataset_info, imagefolder_num_classes
from ecabench.data.splits import check_split_sizes
from ecabench.models import describe
from ecabench.registry import BACKBONES
from ecabench.specs import parse_spec
from ecabench.util import is_int, is_number, short_hash

# Where a run may be asked to execute (``auto``: the first CUDA device if there is one, else the CPU;
# resolved by :func:`ecabench.device.resolve_device`).
DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
DATASET_OPTIONS = ("val_size", "subset", "image_size", "test_subset")
MODEL_OPTIONS = ("small_input", "position")
# How initial weights are drawn (part of the run id: records made under another protocol are not reused).
INIT_PROTOCOL = "crn-v1"
# How a run is executed, not what it computes: excluded from the config (and so from the run id).
_RUNTIME_TRAIN_KEYS = ("device", "num_threads", "seed")


def _finite(value: Any) -> bool:
    return is_number(value) and math.isfinite(value)


@dataclass
class TrainConfig:
    """What a training run is asked to do, checked field by field when it is built, so a typo in a YAML
    file fails with the key and what is allowed, before any data is read or model built."""

    epochs: int = 2
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.1
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # bf16 autocast, CUDA only
    channels_last: bool = True  # NHWC activations (faster with cuDNN and oneDNN alike)
    num_threads: int | None = None  # torch CPU threads during training (None: leave as is)
    augment: bool = True  # apply the dataset's train augmentation policy (none for fashion-mnist/digits)

    def __post_init__(self) -> None:
        for name, ok, allowed in self._rules():
            if not ok():
                raise ValueError(f"train config: {name}={getattr(self, name)!r} is invalid; {allowed}")

    def _rules(self) -> list[tuple[str, Callable[[], bool], str]]:
        """(field, is it valid?, what is allowed), checked in this order: a rule may rely on the ones
        before it (``warmup_epochs`` on ``epochs``)."""
        flags = [(flag, lambda flag=flag: isinstance(getattr(self, flag), bool), "it must be true or false")
                 for flag in ("amp", "channels_last", "augment")]
        return [
            ("epochs", lambda: is_int(self.epochs) and self.epochs >= 1, "it must be an integer >= 1"),
            ("batch_size", lambda: is_int(self.batch_size) and self.batch_size >= 1, "it must be an integer >= 1"),
            ("lr", lambda: _finite(self.lr) and self.lr > 0, "it must be a finite number > 0"),
            ("momentum", lambda: is_number(self.momentum) and 0 <= self.momentum < 1,
             "it must be a number in [0, 1)"),
            ("nesterov", lambda: isinstance(self.nesterov, bool), "it must be true or false"),
            ("nesterov", lambda: not (self.nesterov and self.momentum == 0),
             "Nesterov momentum needs momentum > 0 (set nesterov: false)"),
            ("weight_decay", lambda: _finite(self.weight_decay) and self.weight_decay >= 0,
             "it must be a finite number >= 0"),
            ("warmup_epochs", lambda: is_number(self.warmup_epochs) and 0 <= self.warmup_epochs <= self.epochs,
             f"it must be a number in [0, epochs={self.epochs}]"),
            ("label_smoothing", lambda: is_number(self.label_smoothing) and 0 <= self.label_smoothing < 1,
             "it must be a number in [0, 1)"),
            ("seed", lambda: is_int(self.seed) and 0 <= self.seed < 2**32, "it must be an integer in [0, 2**32)"),
            ("device", lambda: isinstance(self.device, str) and bool(DEVICE_RE.match(self.device)),
             "use 'auto', 'cpu', 'cuda' or 'cuda:N'"),
            *flags,
            ("num_threads", lambda: self.num_threads is None or (is_int(self.num_threads) and self.num_threads >= 1),
             "it must be an integer >= 1 or null"),
        ]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "TrainConfig":
        """Build from a mapping (e.g. a YAML section); unknown keys are an error with a suggestion."""
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in values if k not in known]
        if unknown:
            k = unknown[0]
            close = difflib.get_close_matches(str(k), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"train config: unknown key {k!r}{hint}; known keys: {', '.join(known)}")
        return cls(**dict(values))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_keys(section: str, given: dict, allowed: tuple) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ValueError(f"{section}: unknown option {unknown[0]!r}; allowed: {', '.join(allowed)}")


def _dataset(dataset: str, dataset_options: dict | None) -> tuple[dict, dict]:
    """The config's dataset section (without the class and channel counts) and the dataset's facts."""
    dataset_options = dict(dataset_options or {})
    root = dataset_options.pop("root", None)
    dataset_options.pop("download", None)
    _check_keys("dataset options", dataset_options, DATASET_OPTIONS)
    info = dataset_info(dataset)
    ds = {"name": info["name"], "val_size": dataset_options.get("val_size", 0.1),
          "subset": dataset_options.get("subset")}
    if info["name"] == "imagefolder":
        # A folder dataset is what its folder holds: the root is part of the run's identity (for the
        # built-in datasets it is only where the files are), and the class count comes from it.
        if not root:
            raise ValueError("imagefolder needs its root folder (config datasets[i].root, or --data-root): "
                             "it is part of the run's identity, so two folders never share run ids")
        ds["root"] = str(root)
        info = {**info, "num_classes": imagefolder_num_classes(root)}
    for key in ("image_size", "test_subset"):  # in the config (and the run id) only when set
        if dataset_options.get(key) is not None:
            ds[key] = dataset_options[key]
    check_split_sizes(info["name"], val_size=ds["val_size"], subset=ds["subset"], test_subset=ds.get("test_subset"))
    return ds, info


def make_run_config(*, backbone: str, attention: Any, dataset: str = "fashion-mnist",
                    dataset_options: dict | None = None, train: dict | None = None,
                    model: dict | None = None, seed: int = 0) -> dict:
    """The normalised, validated configuration of one run (its hash is the run id)."""
    spec = parse_spec(attention)
    entry = BACKBONES.entry(backbone)
    backbone = entry.meta.get("alias_of", backbone)
    ds, info = _dataset(dataset, dataset_options)

    model = dict(model or {})
    extra = backbone_extra_options(entry.obj)
    _check_keys(f"model options of {backbone}", model, MODEL_OPTIONS + tuple(extra))
    default_input = entry.meta.get("default_input") or (3, 224, 224)
    small_images = max(info["image_size"]) <= 64
    # A backbone's own options (e.g. mobilenet_v2's width_mult) join the config only when they differ
    # from the builder's default, so the run ids of configs that never name them do not change.
    own = {k: model[k] for k in extra if k in model and model[k] != extra[k]}
    model = {"small_input": bool(model.get("small_input", small_images and default_input[-1] > 64)),
             "position": model.get("position", "output"), **own}
    num_classes = info["num_classes"] or None  # imagefolder: known once the folder is read
    in_channels = info["in_channels"]

    train = {k: v for k, v in dict(train or {}).items() if k not in _RUNTIME_TRAIN_KEYS}
    recipe = TrainConfig.from_dict({**train, "seed": seed}).to_dict()  # validates every field
    for key in _RUNTIME_TRAIN_KEYS:
        recipe.pop(key, None)

    config = {
        "backbone": backbone,
        "attention": spec.to_dict(),
        "model": model,
        "dataset": {**ds, "num_classes": num_classes, "in_channels": in_channels},
        "train": recipe,
        "seed": seed,
        "init": INIT_PROTOCOL,
    }
    # Builds on the meta device: checks per-stage lists and the position before any data is read.
    describe(backbone, spec, num_classes=num_classes or 1000, in_channels=in_channels, **model)
    return config


def backbone_extra_options(builder) -> dict:
    """A backbone builder's own keyword options (beyond the common ones) with their defaults."""
    common = {"num_classes", "in_channels", "attention", *MODEL_OPTIONS}
    params = inspect.signature(builder).parameters.values()
    return {p.name: p.default for p in params
            if p.name not in common and p.kind is p.KEYWORD_ONLY and p.default is not p.empty}


def run_id(config: dict) -> str:
    """Stable id of a normalised configuration: the same config always names the same run."""
    return short_hash(config)


def input_shape(config: dict) -> tuple[int, int, int]:
    """A run's input: (channels, height, width) of its dataset's images (or of the config's image_size)."""
    ds = config["dataset"]
    size = ds.get("image_size") or dataset_info(ds["name"])["image_size"]
    if isinstance(size, int):
        size = (size, size)
    return (ds["in_channels"], *size)


__all__ = ["DATASET_OPTIONS", "DEVICE_RE", "INIT_PROTOCOL", "MODEL_OPTIONS", "TrainConfig", "backbone_extra_options",
           "input_shape", "make_run_config", "run_id"]
