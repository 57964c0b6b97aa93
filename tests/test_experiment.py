"""One experiment end to end: config checks, run records, determinism, resume, failure modes."""
import json
import os

import pytest

from ecabench import data as data_mod
from ecabench import experiment
from ecabench.cli import main
from ecabench.experiment import run_experiment
from ecabench.records import RecordError, read_record, validate
from ecabench.runconfig import make_run_config, run_id

TINY = dict(backbone="resnet20", attention="eca(k=3)", dataset="digits",
            dataset_options={"val_size": 0.1},
            train={"epochs": 2, "batch_size": 64, "lr": 0.05, "num_threads": 1})


def tiny_config(**overrides):
    return make_run_config(**{**TINY, **overrides})


def test_run_config_is_normalised_and_hashes_stably():
    a = make_run_config(backbone="resnet20", attention="eca", dataset="fashion_mnist", seed=3)
    b = make_run_config(backbone="cifar_resnet20", attention={"name": "eca", "gamma": 2.0}, dataset="fashion-mnist",
                        seed=3, train={"device": "cuda", "num_threads": 4})
    assert a == b and run_id(a) == run_id(b)
    assert a["backbone"] == "cifar_resnet20" and a["dataset"]["in_channels"] == 1
    assert "device" not in a["train"] and "seed" not in a["train"]
    assert run_id(a) != run_id(make_run_config(backbone="resnet20", attention="eca", seed=4))


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        (dict(dataset="mnistt"), "unknown dataset 'mnistt'. Did you mean 'fashion-mnist'?"),
        (dict(dataset_options={"subset": 100000}), "subset=100000 is larger than the 54000 training images"),
        (dict(train={"batch_size": 0}), "batch_size=0 is invalid; it must be an integer >= 1"),
        (dict(train={"epoch": 2}), "unknown key 'epoch' (did you mean 'epochs'?)"),
        (dict(attention="eca(k=[3,5])"), "k=[3,5] has 2 values but cifar_resnet20 has 3 stages"),
        (dict(model={"position": "middle"}), "unknown attention position 'middle'"),
        (dict(dataset_options={"crop": 3}), "dataset options: unknown option 'crop'"),
        (dict(dataset_options={"test_subset": 20000}), "test_subset=20000 is out of range for fashion-mnist"),
    ],
)
def test_bad_run_configs_fail_before_any_work(kwargs, needle):
    with pytest.raises(ValueError) as info:
        make_run_config(**{"backbone": "resnet20", "attention": "eca", **kwargs})
    assert needle in str(info.value)


def test_test_subset_joins_the_run_id_only_when_set():
    plain = make_run_config(backbone="resnet20", attention="eca")
    assert "test_subset" not in plain["dataset"]
    assert make_run_config(backbone="resnet20", attention="eca", dataset_options={"test_subset": None}) == plain
    half = make_run_config(backbone="resnet20", attention="eca", dataset_options={"test_subset": 5000})
    assert half["dataset"]["test_subset"] == 5000 and run_id(half) != run_id(plain)


def test_record_scores_the_test_subset(tmp_path):
    record = run_experiment(tiny_config(dataset_options={"val_size": 0.1, "test_subset": 50},
                                        train={"epochs": 1, "batch_size": 64, "num_threads": 1}),
                            out_dir=tmp_path, device="cpu", progress=False)
    assert record["status"] == "ok" and record["environment"]["n_test"] == 50
    assert validate(read_record(tmp_path / f"{record['run_id']}.json")) is None


def _no_training(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("training started")
    monkeypatch.setattr(experiment, "train", boom)


def test_missing_dataset_is_one_clear_error_before_training(tmp_path, monkeypatch):
    _no_training(monkeypatch)
    monkeypatch.setattr(data_mod.sources, "FASHION_MNIST_SYSTEM_DIRS", (str(tmp_path / "nowhere"),))
    monkeypatch.chdir(tmp_path)
    config = make_run_config(backbone="resnet20", attention="eca", dataset_options={"subset": 500})
    with pytest.raises(data_mod.DatasetError) as info:
        run_experiment(config, out_dir=tmp_path / "runs", device="cpu", data_root=str(tmp_path / "empty"))
    assert "apt-get install dataset-fashion-mnist" in str(info.value) and "download" in str(info.value)
    assert not list((tmp_path / "runs").glob("*.json"))


def test_unwritable_output_folder_fails_before_training(tmp_path, monkeypatch):
    _no_training(monkeypatch)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(RecordError, match="output folder .* is not writable"):
        run_experiment(tiny_config(), out_dir=blocker / "runs", device="cpu", progress=False)


def test_cli_run_bad_input_exits_2_with_one_line(tmp_path, capsys):
    assert main(["run", "--dataset", "svhn", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ecabench run: error: unknown dataset 'svhn'") and "Traceback" not in err
    assert main(["run", "--batch-size", "0", "--out", str(tmp_path)]) == 2
    assert "batch_size=0" in capsys.readouterr().err


def test_record_is_complete_valid_and_reproducible(tmp_path):
    config = tiny_config()
    first = run_experiment(config, out_dir=tmp_path / "a", device="cpu", progress=False)
    second = run_experiment(config, out_dir=tmp_path / "b", device="cpu", progress=False)
    path = tmp_path / "a" / f"{run_id(config)}.json"
    assert path.exists() and read_record(path) == json.loads(path.read_text())
    assert first["status"] == "ok" and first["spec_id"] == "eca-k3"
    assert first["resolved"] == {"k": [3, 3, 3]}
    m = first["metrics"]
    for key in ("test_top1_pct", "test_top5_pct", "val_top1_pct", "params_total", "params_attention", "macs",
                "elementwise_flops"):
        assert m[key] is not None, key
    assert m["params_attention"] == 9 * 3
    assert len(first["curves"]) == 2 and "val_top1_pct" in first["curves"][0]
    env = first["environment"]
    for key in ("python", "torch", "torchvision", "device", "cpu_model", "num_threads", "git_commit", "git_dirty"):
        assert key in env, key
    # the same configuration on the CPU gives the same numbers
    assert second["metrics"] == first["metrics"]
    assert [c["train_loss"] for c in second["curves"]] == [c["train_loss"] for c in first["curves"]]
    # finished runs leave no checkpoint behind
    assert not list((tmp_path / "a").rglob("*.pt"))


def test_final_validation_is_the_last_epochs_and_eval_batch_size_does_not_matter(tmp_path):
    import torch

    from ecabench.data import load_dataset
    from ecabench.models import build_model
    from ecabench.runconfig import TrainConfig
    from ecabench.train import evaluate, train

    config = tiny_config()
    record = run_experiment(config, out_dir=tmp_path, device="cpu", progress=False)
    last = record["curves"][-1]
    m = record["metrics"]
    assert (m["val_top1_pct"], m["val_top5_pct"], m["val_loss"]) == (
        last["val_top1_pct"], last["val_top5_pct"], last["val_loss"])
    # re-evaluating the trained weights gives those numbers, at any evaluation batch size
    bundle = load_dataset("digits", val_size=0.1, seed=0)
    torch.manual_seed(0)
    model = build_model("cifar_resnet20", "eca(k=3)", num_classes=10, in_channels=1)
    train(model, bundle, TrainConfig.from_dict({**config["train"], "seed": 0, "device": "cpu"}), progress=False)
    # trained NHWC on the CPU too (train.channels_last): a 3x3 conv weight with C_in > 1 is NHWC only
    w = next(p for p in model.parameters() if p.dim() == 4 and p.shape[1] > 1)
    assert w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
    by_batch = [evaluate(model, bundle.test, batch_size=bs, channels_last=True) for bs in (7, 128, 1000)]
    assert {round(r["top1"], 9) for r in by_batch} == {round(by_batch[0]["top1"], 9)}
    for r in by_batch[1:]:
        assert abs(r["loss"] - by_batch[0]["loss"]) < 1e-5


def test_killed_run_resumes_to_the_same_numbers(tmp_path, monkeypatch):
    config = tiny_config()
    reference = run_experiment(config, out_dir=tmp_path / "ref", device="cpu", progress=False)

    real_train = experiment.train

    def killed_after_first_epoch(*args, **kwargs):
        def kill(record):
            raise KeyboardInterrupt  # like Ctrl-C / SIGTERM: not a run failure, nothing recorded
        return real_train(*args, **kwargs, on_epoch_end=kill)

    monkeypatch.setattr(experiment, "train", killed_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, out_dir=tmp_path / "run", device="cpu", progress=False)
    assert not list((tmp_path / "run").glob("*.json"))
    assert len(list((tmp_path / "run").rglob("*.pt"))) == 1
    monkeypatch.setattr(experiment, "train", real_train)
    resumed = run_experiment(config, out_dir=tmp_path / "run", device="cpu", progress=False)
    assert resumed["timings"]["resumed_from_epoch"] == 1
    assert resumed["metrics"] == reference["metrics"]


def test_diverging_run_is_recorded_not_raised(tmp_path):
    config = tiny_config(train={"epochs": 1, "batch_size": 64, "lr": 1e8, "num_threads": 1,
                                "label_smoothing": 0.0})
    record = run_experiment(config, out_dir=tmp_path, device="cpu", progress=False)
    assert record["status"] == "diverged" and "non-finite" in record["error"]
    assert read_record(tmp_path / f"{record['run_id']}.json")["status"] == "diverged"


def test_failing_run_is_recorded_and_other_records_survive(tmp_path, monkeypatch):
    good = run_experiment(tiny_config(train={**TINY["train"], "epochs": 1}), out_dir=tmp_path, device="cpu",
                          progress=False)
    before = (tmp_path / f"{good['run_id']}.json").read_text()

    def broken(*a, **k):
        raise RuntimeError("CUDA error: an illegal memory access")
    monkeypatch.setattr(experiment, "train", broken)
    bad = run_experiment(tiny_config(seed=1), out_dir=tmp_path, device="cpu", progress=False)
    assert bad["status"] == "failed" and "illegal memory access" in bad["error"]
    assert (tmp_path / f"{good['run_id']}.json").read_text() == before
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_schema_rejects_a_bad_record(tmp_path):
    record = run_experiment(tiny_config(train={**TINY["train"], "epochs": 1}), out_dir=tmp_path, device="cpu",
                            progress=False)
    validate(record)
    with pytest.raises(RecordError, match="at status: 'great' is not one of"):
        validate({**record, "status": "great"})
    with pytest.raises(RecordError, match="at metrics/test_top1_pct: 101"):
        validate({**record, "metrics": {**record["metrics"], "test_top1_pct": 101}})


@pytest.mark.slow
def test_cli_run_fashion_mnist_reaches_well_above_chance(tmp_path, capsys):
    """The issue's acceptance run: ResNet-20, a few thousand Fashion-MNIST images, 2 epochs, CPU."""
    rc = main(["run", "--backbone", "resnet20", "--attention", "eca(k=5)", "--dataset", "fashion-mnist",
               "--epochs", "2", "--subset", "4000", "--batch-size", "64", "--lr", "0.1", "--seed", "0",
               "--no-throughput", "--quiet",
               "--out", str(tmp_path)])
    assert rc == 0
    (path,) = tmp_path.glob("*.json")
    record = read_record(path)
    assert record["metrics"]["test_top1_pct"] > 75.0
