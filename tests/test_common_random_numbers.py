"""Common random numbers: for one seed, every variant gets the same backbone weights and the same data."""
from __future__ import annotations

import dataclasses
import hashlib

import pytest
import torch

from ecabench import experiment, runconfig
from ecabench.backbones import attention_module_ids
from ecabench.data import load_dataset
from ecabench.experiment import run_experiment
from ecabench.models import build_model
from ecabench.runconfig import TrainConfig, make_run_config
from ecabench.train import train

VARIANTS = ["none", "eca", "se", "cbam", "eca(k=5)"]


def backbone_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer outside the attention slots, by name."""
    skip = attention_module_ids(model)
    out = {}
    for name, module in model.named_modules():
        if id(module) in skip:
            continue
        for pname, t in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
            out[f"{name}.{pname}"] = t.detach()
    return out


@pytest.mark.parametrize("backbone, kw", [("resnet20", dict(num_classes=10, in_channels=1)),
                                          ("resnet18", dict(num_classes=10)),
                                          ("mobilenet_v2", dict(num_classes=10))])
def test_backbone_tensors_are_bitwise_equal_across_variants_for_a_seed(backbone, kw):
    ref = backbone_state(build_model(backbone, "none", seed=7, **kw))
    for spec in VARIANTS[1:]:
        got = backbone_state(build_model(backbone, spec, seed=7, **kw))
        assert got.keys() == ref.keys(), spec
        assert all(torch.equal(got[k], ref[k]) for k in ref), spec
    other = backbone_state(build_model(backbone, "none", seed=8, **kw))
    weights = [k for k, t in ref.items() if k.endswith("weight") and t.dim() > 1]
    assert weights and all(not torch.equal(other[k], ref[k]) for k in weights)


def test_seeded_build_keeps_each_backbones_own_init_rule():
    m = build_model("resnet50", "se", seed=3)
    # torchvision's rule: BN weight 1, bias 0; convolutions He-normal (fan_out): std sqrt(2 / (k*k*C_out))
    assert torch.all(m.layer1[0].bn1.weight == 1) and torch.all(m.layer1[0].bn1.bias == 0)
    w = m.layer3[0].conv2.weight
    assert w.std().item() == pytest.approx((2 / (3 * 3 * 256)) ** 0.5, rel=0.05)
    # the classifier keeps PyTorch's default (uniform, bound 1/sqrt(fan_in)) as in the unseeded build
    assert m.fc.weight.abs().max().item() <= 2048 ** -0.5
    mb = build_model("mobilenet_v2", "none", seed=3)
    assert mb.classifier[1].weight.std().item() == pytest.approx(0.01, rel=0.1)  # torchvision: N(0, 0.01)


def test_attention_params_have_their_own_stream_and_the_global_rng_is_untouched():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = build_model("resnet20", "eca", num_classes=10, in_channels=1, seed=1)
    assert torch.equal(torch.get_rng_state(), state)  # a seeded build does not move the global stream
    b = build_model("resnet20", "eca", num_classes=10, in_channels=1, seed=1)
    c = build_model("resnet20", "eca", num_classes=10, in_channels=1, seed=2)
    ka = [m.conv.weight for m in a.modules() if type(m).__name__ == "ECA"]
    kb = [m.conv.weight for m in b.modules() if type(m).__name__ == "ECA"]
    kc = [m.conv.weight for m in c.modules() if type(m).__name__ == "ECA"]
    assert all(torch.equal(x, y) for x, y in zip(ka, kb))
    assert not all(torch.equal(x, y) for x, y in zip(ka, kc))
    assert len({tuple(w.flatten().tolist()) for w in ka}) == len(ka)  # one stream per module, not one draw reused


def test_without_a_seed_weights_come_from_the_global_stream_as_before():
    torch.manual_seed(0)
    a = build_model("resnet20", "eca", num_classes=10, in_channels=1)
    torch.manual_seed(0)
    b = build_model("resnet20", "eca", num_classes=10, in_channels=1)
    torch.manual_seed(1)
    c = build_model("resnet20", "eca", num_classes=10, in_channels=1)
    assert torch.equal(a.conv1.weight, b.conv1.weight) and not torch.equal(a.conv1.weight, c.conv1.weight)
    with pytest.raises(ValueError, match="seed must be an integer"):
        build_model("resnet20", "eca", seed=-1)


def _digest(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().contiguous().cpu().numpy().tobytes()).hexdigest()[:16]


def test_batch_order_and_augmentation_are_identical_across_variants():
    bundle = load_dataset("digits", subset=300, val_size=0.1, seed=4)
    bundle = dataclasses.replace(bundle, train=dataclasses.replace(bundle.train, augment="crop-flip"))
    cfg = TrainConfig(epochs=2, batch_size=64, lr=0.05, device="cpu", seed=4, num_threads=1)
    seen = {}
    for spec in ("none", "eca", "cbam"):
        model = build_model("resnet20", spec, num_classes=10, in_channels=1, seed=4)
        seen[spec] = batches = []
        model.register_forward_pre_hook(lambda mod, args, out=batches: out.append(_digest(args[0])) if mod.training
                                        else None)
        train(model, bundle, cfg, progress=False)
    assert len(seen["none"]) == 2 * 5  # 270 images, batch 64: 5 steps per epoch
    assert seen["eca"] == seen["none"] and seen["cbam"] == seen["none"]
    assert len(set(seen["none"])) == len(seen["none"])  # augmented and reshuffled: no batch repeats
    other = build_model("resnet20", "none", num_classes=10, in_channels=1, seed=4)
    again = []
    other.register_forward_pre_hook(lambda mod, args: again.append(_digest(args[0])) if mod.training else None)
    train(other, bundle, dataclasses.replace(cfg, seed=5), progress=False)
    assert again != seen["none"]  # another seed, another order


def test_runs_of_one_seed_start_from_the_same_backbone_and_see_the_same_splits(tmp_path, monkeypatch):
    starts, splits = {}, {}
    real_train = experiment.train

    def spy(model, data, cfg, **kw):
        starts[spec] = {k: v.clone() for k, v in backbone_state(model).items()}
        splits[spec] = (_digest(data.train.x), _digest(data.val.x), _digest(data.test.x), data.train.indices.tolist())
        return real_train(model, data, cfg, **kw)

    monkeypatch.setattr(experiment, "train", spy)
    for spec in ("none", "se"):
        config = make_run_config(backbone="resnet20", attention=spec, dataset="digits",
                                 dataset_options={"val_size": 0.1, "subset": 200},
                                 train={"epochs": 1, "batch_size": 64, "num_threads": 1}, seed=2)
        assert config["init"] == runconfig.INIT_PROTOCOL  # part of the run id
        run_experiment(config, out_dir=tmp_path, device="cpu", progress=False)
    assert splits["none"] == splits["se"]
    assert starts["none"].keys() == starts["se"].keys()
    assert all(torch.equal(starts["none"][k], starts["se"][k]) for k in starts["none"])
