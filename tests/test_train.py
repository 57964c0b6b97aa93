"""Training loop (ecabench.train)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ecabench.data import load_dataset
from ecabench.runconfig import TrainConfig
from ecabench.train import (
    TrainResult,
    build_optimizer,
    evaluate,
    lr_factor,
    resolve_device,
    seed_everything,
    train,
)

TIMING_KEYS = {"epoch_time_s", "train_images_per_s"}


def tiny_net(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(in_channels, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1, stride=2, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes),
    )


def seeded_net(seed: int = 0) -> nn.Module:
    seed_everything(seed)
    return tiny_net()


def metrics(result: TrainResult) -> list[dict]:
    return [{k: v for k, v in e.items() if k not in TIMING_KEYS} for e in result.epochs]


def states_equal(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", subset=400, val_size=0.1, seed=0)


def cfg(**kw) -> TrainConfig:
    # one thread: these tiny models gain nothing from more, and it keeps the tests fast on a busy machine
    base = dict(epochs=2, batch_size=64, lr=0.05, device="cpu", warmup_epochs=0.5, seed=0, num_threads=1)
    base.update(kw)
    return TrainConfig(**base)


# ------------------------------------------------------------------------------------------- training


def test_train_runs_and_records_curves(digits):
    model = seeded_net()
    res = train(model, digits, cfg(epochs=3), progress=False)
    assert res.status == "ok" and res.error is None and res.device == "cpu"
    assert [e["epoch"] for e in res.epochs] == [1, 2, 3]
    for e in res.epochs:
        assert set(e) == {"epoch", "lr", "train_loss", "train_top1", "val_loss", "val_top1", "val_top5",
                          "epoch_time_s", "train_images_per_s"}
        assert 0 <= e["val_top1"] <= e["val_top5"] <= 100
        assert e["train_images_per_s"] > 0
    assert res.epochs[-1]["train_loss"] < res.epochs[0]["train_loss"]
    assert res.train_time_s >= sum(e["epoch_time_s"] for e in res.epochs)
    test = evaluate(model, digits.test, device="cpu")
    assert test["top1"] > 20  # learnt something in three tiny epochs


def test_training_is_deterministic_on_cpu(digits):
    m1, m2 = seeded_net(), seeded_net()
    r1 = train(m1, digits, cfg(), progress=False)
    r2 = train(m2, digits, cfg(), progress=False)
    assert metrics(r1) == metrics(r2)
    assert states_equal(m1, m2)
    m3 = seeded_net()
    r3 = train(m3, digits, cfg(seed=1), progress=False)
    assert metrics(r3) != metrics(r1)


class Killed(Exception):
    pass


def test_resume_after_kill_equals_uninterrupted(digits, tmp_path):
    c = cfg(epochs=3)
    full_model = seeded_net()
    full = train(full_model, digits, c, progress=False)

    ckpt = tmp_path / "run" / "ckpt.pt"

    def kill_after_first(record):
        if record["epoch"] == 1:
            raise Killed

    with pytest.raises(Killed):
        train(seeded_net(), digits, c, checkpoint_path=ckpt, progress=False, on_epoch_end=kill_after_first)
    assert ckpt.exists()
    assert [p.name for p in ckpt.parent.iterdir()] == ["ckpt.pt"]  # no temp file left behind
    saved = torch.load(ckpt, weights_only=True)
    assert saved["epoch"] == 1 and len(saved["curves"]) == 1

    # a fresh process would build a fresh model (other weights, other RNG state): resume must not care
    resumed_model = seeded_net(seed=123)
    torch.rand(7)
    resumed = train(resumed_model, digits, c, checkpoint_path=ckpt, progress=False)
    assert resumed.status == "ok" and resumed.resumed_from_epoch == 1
    assert metrics(resumed) == metrics(full)
    assert states_equal(resumed_model, full_model)

    # the finished checkpoint is a no-op on a third call
    again = train(seeded_net(), digits, c, checkpoint_path=ckpt, progress=False)
    assert again.resumed_from_epoch == 3 and metrics(again) == metrics(full)


def test_resume_refuses_a_different_config(digits, tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    train(seeded_net(), digits, cfg(epochs=1), checkpoint_path=ckpt, progress=False)
    with pytest.raises(ValueError, match=r"lr: 0\.05 \(checkpoint\) != 0\.1"):
        train(seeded_net(), digits, cfg(epochs=1, lr=0.1), checkpoint_path=ckpt, progress=False)
    with pytest.raises(ValueError, match="does not fit this model"):
        other_model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
        train(other_model, digits, cfg(epochs=1), checkpoint_path=ckpt, progress=False)
    with pytest.raises(ValueError, match="for other data .*n_train: 400 \\(checkpoint\\) != 300"):
        train(seeded_net(), load_dataset("digits", subset=300), cfg(epochs=1), checkpoint_path=ckpt,
              progress=False)
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="cannot read checkpoint"):
        train(seeded_net(), digits, cfg(epochs=1), checkpoint_path=tmp_path / "junk.pt", progress=False)


class BlowsUp(nn.Module):
    """Emits inf logits from training step ``at`` (1-based) on."""

    def __init__(self, at: int):
        super().__init__()
        self.net = tiny_net()
        self.at, self.calls = at, 0

    def forward(self, x):
        out = self.net(x)
        if self.training:
            self.calls += 1
            if self.calls >= self.at:
                out = out * float("inf")
        return out


def test_divergence_is_reported_not_raised(digits):
    # 400 images / 64 = 7 steps per epoch; step 9 is epoch 2, step 2
    seed_everything(0)
    res = train(BlowsUp(at=9), digits, cfg(epochs=3), progress=False)
    assert res.status == "diverged"
    assert len(res.epochs) == 1 and res.epochs[0]["epoch"] == 1
    assert "epoch 2" in res.error and "step 2/7" in res.error and "global step 9" in res.error

    seed_everything(0)
    res = train(seeded_net(), digits, cfg(epochs=1, lr=1e30), progress=False)
    assert res.status == "diverged" and res.epochs == [] and "epoch 1" in res.error


def test_progress_bar_goes_to_stderr(digits, capsys):
    train(seeded_net(), digits, cfg(epochs=1), progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    assert "epoch 1/1" in err and "img/s" in err and "val_acc" in err
    train(seeded_net(), digits, cfg(epochs=1), progress=False)
    assert capsys.readouterr() == ("", "")


# ----------------------------------------------------------------------------- optimizer and schedule


def test_no_weight_decay_on_bn_and_bias():
    model = tiny_net()
    opt = build_optimizer(model, cfg(weight_decay=1e-3))
    groups = {g["name"]: g for g in opt.param_groups}
    assert groups["decay"]["weight_decay"] == 1e-3
    assert groups["no_decay"]["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in groups["decay"]["params"])
    assert all(p.ndim <= 1 for p in groups["no_decay"]["params"])
    bn_and_bias = {id(p) for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()}
    bn_and_bias.add(id(model[-1].bias))
    assert {id(p) for p in groups["no_decay"]["params"]} == bn_and_bias
    assert opt.defaults["nesterov"] is True and opt.defaults["momentum"] == 0.9


def test_warmup_cosine_lr_by_hand():
    # total 10 steps, 4 warm-up steps
    expected = {0: 0.25, 1: 0.5, 3: 1.0, 4: 1.0, 5: 0.5 * (1 + math.cos(math.pi / 6)), 7: 0.5,
                9: 0.5 * (1 + math.cos(math.pi * 5 / 6))}
    for step, value in expected.items():
        assert lr_factor(step, 10, 4) == pytest.approx(value)
    assert lr_factor(0, 10, 0) == 1.0


def test_lr_in_training_follows_schedule(digits):
    # 7 steps per epoch, 3 epochs (21 steps), warm-up one epoch (7 steps): the last step of each
    # epoch is 6 (end of warm-up), 13 and 20 (cosine over the remaining 14 steps)
    c = cfg(epochs=3, lr=0.1, warmup_epochs=1)
    res = train(seeded_net(), digits, c, progress=False)
    lrs = [e["lr"] for e in res.epochs]
    assert lrs[0] == pytest.approx(0.1 * 7 / 7)
    assert lrs[1] == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 6 / 14)))
    assert lrs[2] == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 13 / 14)))


def test_scheduler_steps_per_iteration():
    model = tiny_net()
    c = cfg(lr=1.0)
    opt = build_optimizer(model, c)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, 8, 2))
    seen = []
    for _ in range(8):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([0.5, 1.0] + [0.5 * (1 + math.cos(math.pi * k / 6)) for k in range(6)])


# ----------------------------------------------------------------------------------------- evaluate


def test_evaluate_top5_capped_and_eval_mode():
    x = torch.randn(20, 1, 8, 8)
    y = torch.arange(20) % 3
    model = tiny_net(num_classes=3)
    model.train()
    out = evaluate(model, [(x, y)], device="cpu")
    assert out["top5"] == 100.0  # top-min(5, 3)
    assert 0 <= out["top1"] <= 100 and out["loss"] > 0
    assert not model.training


def test_evaluate_split_equals_loader(digits):
    model = seeded_net()
    from ecabench.data import make_loader

    a = evaluate(model, digits.val, device="cpu", batch_size=7)
    b = evaluate(model, make_loader(digits.val, batch_size=100, shuffle=False, seed=0, augment=False),
                 device="cpu")
    assert a["top1"] == b["top1"] and a["loss"] == pytest.approx(b["loss"])


# ------------------------------------------------------------------------------- config and devices


@pytest.mark.parametrize("field,value,words", [
    ("epochs", 0, "integer >= 1"),
    ("epochs", 1.5, "integer >= 1"),
    ("batch_size", -1, "integer >= 1"),
    ("lr", 0, "> 0"),
    ("lr", float("nan"), "> 0"),
    ("momentum", 1.0, "[0, 1)"),
    ("weight_decay", -1e-4, ">= 0"),
    ("warmup_epochs", 5, "[0, epochs=2]"),
    ("label_smoothing", 1.0, "[0, 1)"),
    ("seed", -1, "[0, 2**32)"),
    ("device", "gpu", "'cuda:N'"),
    ("amp", "yes", "true or false"),
    ("num_threads", 0, ">= 1"),
])
def test_config_validation_names_field_value_and_rule(field, value, words):
    with pytest.raises(ValueError) as exc:
        TrainConfig(**{field: value})
    msg = str(exc.value)
    assert f"{field}={value!r}" in msg and words in msg


def test_config_nesterov_needs_momentum_and_from_dict():
    with pytest.raises(ValueError, match="nesterov"):
        TrainConfig(momentum=0.0)
    TrainConfig(momentum=0.0, nesterov=False)
    assert TrainConfig.from_dict({"epochs": 3}).epochs == 3
    with pytest.raises(ValueError, match="did you mean 'epochs'"):
        TrainConfig.from_dict({"epoch": 3})


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="not supported"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        for name in ("cuda", "cuda:1"):
            with pytest.raises(ValueError, match="no CUDA GPU"):
                resolve_device(name)


def test_trains_without_val_split():
    b = load_dataset("digits", subset=100, val_size=0)
    res = train(seeded_net(), b, cfg(epochs=1, batch_size=33), progress=False)
    assert res.status == "ok" and res.epochs[0]["val_top1"] is None
    # 100 % 33 == 1: the single-image last batch is dropped (BatchNorm on 1x1 maps would fail)
    assert res.epochs[0]["train_images_per_s"] > 0


def synthetic_cifar_bundle(n: int = 256):
    """A 3-channel 32x32 bundle with the CIFAR crop+flip policy (no download needed)."""
    from ecabench.data import DataBundle, TensorSplit

    g = torch.Generator().manual_seed(0)

    def split(m, offset):
        y = (torch.arange(m) + offset) % 10
        x = torch.randn(m, 3, 32, 32, generator=g) * 0.5 + y.view(-1, 1, 1, 1) * 0.1
        return TensorSplit(x=x, y=y, num_classes=10, indices=torch.arange(m), augment="crop-flip",
                           pad_value=(-1.99, -1.98, -1.71))

    train_s, val_s, test_s = split(n, 0), split(64, 3), split(64, 5)
    return DataBundle(name="synthetic", num_classes=10, in_channels=3, image_size=(32, 32),
                      train=train_s, val=val_s, test=test_s, mean=(0.5,) * 3, std=(0.25,) * 3,
                      n_train=n, n_val=64, n_test=64, augment="crop-flip")


def test_augmented_training_deterministic_and_resumable(tmp_path):
    data = synthetic_cifar_bundle()
    c = cfg(epochs=2, batch_size=32)
    seed_everything(0)
    full_model = tiny_net(in_channels=3)
    full = train(full_model, data, c, progress=False)
    seed_everything(0)
    again = train(tiny_net(in_channels=3), data, c, progress=False)
    assert metrics(full) == metrics(again)

    def kill(record):
        raise Killed

    ckpt = tmp_path / "c.pt"
    seed_everything(0)
    with pytest.raises(Killed):
        train(tiny_net(in_channels=3), data, c, checkpoint_path=ckpt, progress=False, on_epoch_end=kill)
    resumed_model = tiny_net(in_channels=3)
    resumed = train(resumed_model, data, c, checkpoint_path=ckpt, progress=False)
    assert metrics(resumed) == metrics(full) and states_equal(resumed_model, full_model)
    # augmentation actually changes what is trained on
    seed_everything(0)
    no_aug = train(tiny_net(in_channels=3), data, cfg(epochs=2, batch_size=32, augment=False), progress=False)
    assert metrics(no_aug) != metrics(full)


@pytest.mark.skipif(not __import__("pathlib").Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Debian package dataset-fashion-mnist is not installed")
def test_fashion_mnist_subset_trains():
    data = load_dataset("fashion-mnist", subset=500, val_size=1000)
    res = train(seeded_net(), data, cfg(epochs=3, batch_size=32, lr=0.1), progress=False)
    assert res.status == "ok" and len(res.epochs) == 3
    assert res.epochs[-1]["val_top1"] > 25, res.epochs  # well above chance (10%) after 48 steps


def test_global_torch_switches_restored(digits):
    model = seeded_net()  # seed_everything switches deterministic algorithms on
    torch.use_deterministic_algorithms(False)
    threads = torch.get_num_threads()
    train(model, digits, cfg(epochs=1, num_threads=1), progress=False)
    assert torch.get_num_threads() == threads
    assert not torch.are_deterministic_algorithms_enabled()
