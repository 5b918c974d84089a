"""Batched training (``benchmark/zoo/batched.py``) gives, model for model, what
``Classification.train`` gives: the same records (ids, epochs, checkpoints, state-dict keys and
shapes, divergence), weights and metrics to float tolerance, bit-identical on rerun.

Tolerances, 2 epochs on digits: weights rtol 1e-4 / atol 1e-5 (MLPs, 1-D convnets, image
convnets with ``exact_batchnorm``; observed <= 2e-6), losses within 1e-4, accuracies equal.
Image convnets with BatchNorm on channels-last activations (the default, faster): weights
rtol 1e-2 / atol 2e-3 (= lr; observed 5e-4: Adam turns BatchNorm's other summation order into
steps of up to ~lr in parameters whose gradient is near zero).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from benchmark.zoo import TASKS, expand_zoo
from benchmark.zoo.batched import (
    adam_bias_corrections,
    adam_step_,
    adam_step_sizes,
    batch_key,
    minibatch_slots,
    plan_batches,
    sgd_step_,
    train_batch,
    train_batched,
    value_runs,
)
from benchmark.zoo.classification import training_indices, training_set

TASK = TASKS.get("classification")
TIGHT = {"rtol": 1e-4, "atol": 1e-5}
CHANNELS_LAST_BN = {"rtol": 1e-2, "atol": 2e-3}  # lr of _convnet_specs
LOSS_TOL = 1e-4


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: these small models train fastest so (and a busy second core slows a
    two-thread run many times over)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _mlp_specs() -> list:
    """Two batches (adam, sgd) of small MLPs that differ in everything a batch lets differ."""
    adam = expand_zoo(
        "m",
        "mlp",
        {"width": 12, "depth": 2, "activation": "relu", "optimizer": "adam", "epochs": 2},
        {"lr": [1e-3, 1e-2], "weight_decay": [0.0, 1e-3], "batch_size": [64, 200], "seed": [0, 1]},
    )[::3]  # 6 of the 16: every combination of lr, weight decay and batch size appears
    varied = [
        dataclasses.replace(adam[0], model_id="m/noise", hparams={**adam[0].hparams, "label_noise": 0.3}),
        dataclasses.replace(adam[1], model_id="m/half", hparams={**adam[1].hparams, "train_fraction": 0.5}),
        dataclasses.replace(adam[2], model_id="m/short", hparams={**adam[2].hparams, "epochs": 1}),
    ]
    sgd = expand_zoo(
        "s",
        "mlp",
        {"width": 10, "depth": 1, "activation": "tanh", "optimizer": "sgd", "batch_size": 100, "epochs": 2},
        {"lr": [1e-2, 5e-2], "momentum": [0.0, 0.9], "train_fraction": [0.6, 1.0], "seed": [3]},
    )
    gelu = dataclasses.replace(adam[3], model_id="m/gelu", hparams={**adam[3].hparams, "activation": "gelu"})
    return [*adam, *varied, *sgd, gelu]


def _convnet_specs() -> list:
    """Plain and residual, with and without BatchNorm; seed 1 trains one epoch, seed 0 two (so that
    in the second epoch one model of each batch is idle: its running statistics must stay)."""
    specs = expand_zoo(
        "c",
        "convnet",
        {"width": 4, "depth": 1, "lr": 2e-3, "batch_size": 128},
        {"residual": [False, True], "norm": [True, False], "seed": [0, 1]},
    )
    return [dataclasses.replace(s, hparams={**s.hparams, "epochs": 2 - s.seed}) for s in specs]


def _sequences(split):
    """Digits as 1-D sequences: 8 channels (image rows) of length 8."""
    return dataclasses.replace(
        split,
        x_train=split.x_train.reshape(len(split.x_train), 8, 8),
        x_test=split.x_test.reshape(len(split.x_test), 8, 8),
    )


def _assert_same_runs(alone, batched, tol) -> None:
    assert len(alone) == len(batched)
    for run_a, run_b in zip(alone, batched, strict=True):
        assert [r.model_id for r in run_a] == [r.model_id for r in run_b]
        assert [r.epoch for r in run_a] == [r.epoch for r in run_b]
        for a, b in zip(run_a, run_b, strict=True):
            assert (a.zoo, a.task, a.architecture, a.dataset, a.hparams, a.seed, a.group) == (
                b.zoo,
                b.task,
                b.architecture,
                b.dataset,
                b.hparams,
                b.seed,
                b.group,
            )
            assert list(a.state) == list(b.state)
            for k, v in a.state.items():
                assert v.shape == b.state[k].shape and v.dtype == b.state[k].dtype, k
                if v.dtype.kind == "f":
                    np.testing.assert_allclose(b.state[k], v, err_msg=f"{a.model_id} {k}", equal_nan=True, **tol)
                else:
                    assert np.array_equal(v, b.state[k]), (a.model_id, k)
            assert a.metrics.keys() == b.metrics.keys()
            assert a.metrics["diverged"] == b.metrics["diverged"]
            for k, v in a.metrics.items():
                if math.isnan(v):
                    assert math.isnan(b.metrics[k]), (a.model_id, k)
                elif "accuracy" in k or k == "generalization_gap":
                    assert b.metrics[k] == pytest.approx(v, abs=1e-12), (a.model_id, k)
                else:
                    assert b.metrics[k] == pytest.approx(v, abs=LOSS_TOL), (a.model_id, k)


def _alone(specs, data, checkpoints):
    return [TASK.train(s, data, "digits", checkpoints) for s in specs]


def _bytes(runs):
    return [[(r.model_id, r.metrics, {k: v.tobytes() for k, v in r.state.items()}) for r in run] for run in runs]


@pytest.fixture(scope="module")
def mlp_runs(digits):
    specs = _mlp_specs()
    checkpoints = [0, 1]
    return specs, _alone(specs, digits, checkpoints), train_batched(TASK, specs, digits, "digits", checkpoints)


def test_batched_mlps_match_training_one_at_a_time(mlp_runs, digits):
    specs, alone, batched = mlp_runs
    assert [len(b) for _, b in plan_batches(specs, digits)] == [9, 8, 1]  # adam, sgd; gelu is another architecture
    _assert_same_runs(alone, batched, TIGHT)
    short = next(i for i, s in enumerate(specs) if s.model_id == "m/short")
    assert [r.epoch for r in batched[short]] == [0, 1]  # epochs 1: no checkpoint at 1, final at 1
    assert [r.epoch for r in batched[0]] == [0, 1, 2]


def test_batched_training_is_bit_identical_on_rerun(mlp_runs, digits):
    specs, _, batched = mlp_runs
    again = train_batched(TASK, specs, digits, "digits", [0, 1])
    assert _bytes(again) == _bytes(batched)


def test_a_model_does_not_depend_on_its_batch_beyond_rounding(mlp_runs, digits):
    specs, _, batched = mlp_runs
    alone_in_batch = train_batch(TASK, specs[:1], digits, "digits", [0, 1])
    _assert_same_runs(batched[:1], alone_in_batch, TIGHT)


@pytest.mark.parametrize(("dims", "exact_batchnorm"), [(2, False), (2, True), (1, False)])
def test_batched_convnets_match_training_one_at_a_time(digits, dims, exact_batchnorm):
    data = digits if dims == 2 else _sequences(digits)
    specs = _convnet_specs()
    if dims == 1:  # without BatchNorm, batch sizes may differ inside a batch
        specs = [dataclasses.replace(s, hparams={**s.hparams, "batch_size": 96 + 32 * s.seed}) for s in specs]
    batches = [len(b) for _, b in plan_batches(specs, data)]
    assert batches == ([2] * 4 if dims == 2 else [1, 1, 2, 1, 1, 2])  # BatchNorm: equal batch size only
    alone = [TASK.train(s, data, "digits", [1]) for s in specs]
    batched = train_batched(TASK, specs, data, "digits", [1], exact_batchnorm=exact_batchnorm)
    _assert_same_runs(alone, batched, CHANNELS_LAST_BN if dims == 2 and not exact_batchnorm else TIGHT)


def test_divergence_stops_only_the_model_that_diverges(digits):
    specs = expand_zoo(
        "d",
        "mlp",
        {"width": 8, "depth": 1, "activation": "tanh", "batch_size": 128, "train_fraction": 0.01, "epochs": 4},
        {"lr": [1e-2, 1e37], "seed": [0]},
    )  # one step an epoch; the absurd lr overflows at the second
    alone = _alone(specs, digits, [0, 1, 2, 3])
    assert [[(r.epoch, r.metrics["diverged"]) for r in run] for run in alone] == [
        [(0, 0.0), (1, 0.0), (2, 0.0), (3, 0.0), (4, 0.0)],
        [(0, 0.0), (1, 0.0), (4, 1.0)],  # checkpoints up to the divergence, then the final record
    ]
    assert [len(b) for _, b in plan_batches(specs, digits)] == [2]
    batched = train_batched(TASK, specs, digits, "digits", [0, 1, 2, 3])
    _assert_same_runs(alone, batched, TIGHT)
    assert all(math.isnan(v) for k, v in batched[1][-1].metrics.items() if k != "diverged")


def test_a_diverged_batchnorm_convnet_keeps_its_state_at_divergence(digits):
    specs = expand_zoo(
        "cd", "convnet", {"width": 4, "depth": 1, "batch_size": 128, "epochs": 2}, {"lr": [2e-3, 1e30], "seed": [0]}
    )  # the absurd lr diverges at the second of ten steps: the model idles through the other eight
    alone = _alone(specs, digits, [1])
    assert [[(r.epoch, r.metrics["diverged"]) for r in run] for run in alone] == [[(1, 0.0), (2, 0.0)], [(2, 1.0)]]
    assert int(alone[1][-1].state["1.num_batches_tracked"]) == 2  # the forward that diverged counts
    batched = train_batched(TASK, specs, digits, "digits", [1], exact_batchnorm=True)
    _assert_same_runs(alone, batched, TIGHT)  # running statistics too: idle steps left them alone


def test_batch_key_separates_what_cannot_share_a_batch(digits):
    base = expand_zoo("k", "mlp", {"width": 8, "depth": 1, "lr": 1e-3, "batch_size": 64, "epochs": 1}, {"seed": [0]})[0]

    def key(arch="mlp", data=digits, **hp):
        return batch_key(dataclasses.replace(base, architecture=arch, hparams={**base.hparams, **hp}), data)

    same = {key(), key(seed=1, lr=0.1, weight_decay=1e-3, batch_size=32, label_noise=0.2, train_fraction=0.5, epochs=3)}
    assert len(same) == 1 and None not in same
    assert key(width=16) != key() and key(depth=2) != key() and key(activation="tanh") != key()
    assert key(optimizer="sgd") != key()
    assert key(arch="timm", model_name="resnet18") is None and key(optimizer="lbfgs") is None
    assert key(data=object()) is None  # not a classification split: not a classification task
    conv = {"width": 4, "depth": 1}
    assert key("convnet", **conv, batch_size=32) != key("convnet", **conv, batch_size=64)  # BatchNorm
    assert key("convnet", **conv, train_fraction=0.5) != key("convnet", **conv)
    assert key("convnet", **conv, norm=False, batch_size=32) == key("convnet", **conv, norm=False, batch_size=64)
    assert key("convnet", **conv, residual=True) != key("convnet", **conv)
    assert key("convnet", **conv, seed=1, lr=0.5) == key("convnet", **conv)


def test_unbatchable_specs_are_trained_one_at_a_time_with_the_same_errors(digits):
    spec = expand_zoo("u", "mlp", {"width": 4, "lr": 1e-3, "batch_size": 64, "epochs": 1}, {"seed": [0]})[0]
    bad = dataclasses.replace(spec, hparams={**spec.hparams, "optimizer": "lbfgs"})
    with pytest.raises(ValueError, match="optimizer 'lbfgs' is unknown"):
        train_batched(TASK, [spec, bad], digits, "digits", [])
    with pytest.raises(ValueError, match="cannot share a batch"):
        train_batch(TASK, [spec, bad], digits, "digits", [])


def test_batched_adam_and_sgd_are_torch_s_step_for_step():
    g = torch.Generator().manual_seed(0)
    M, P, steps = 4, 37, 5
    lr, wd = [1e-3, 1e-3, 1e-2, 3e-2], [0.0, 1e-2, 1e-2, 0.0]
    order = sorted(range(M), key=lambda i: wd[i])  # runs of equal weight decay
    lr, wd = [lr[i] for i in order], [wd[i] for i in order]
    start = torch.randn(M, P, generator=g)
    grads = [torch.randn(M, P, generator=g) for _ in range(steps)]
    # torch, one model at a time
    expected = []
    for name in ("adam", "sgd"):
        rows = []
        for i in range(M):
            p = torch.nn.Parameter(start[i].clone())
            kwargs = {"lr": lr[i], "weight_decay": wd[i]} | ({"momentum": 0.9} if name == "sgd" else {})
            opt = (torch.optim.Adam if name == "adam" else torch.optim.SGD)([p], **kwargs)
            for grad in grads:
                p.grad = grad[i].clone()
                opt.step()
            rows.append(p.detach())
        expected.append(torch.stack(rows))
    # batched
    lr64 = torch.tensor(lr, dtype=torch.float64)
    neg_step, bias2 = adam_step_sizes(lr64, adam_bias_corrections(0.9, 0.999, steps))
    p, m, v = start.clone(), torch.zeros(M, P), torch.zeros(M, P)
    for k, grad in enumerate(grads, start=1):
        adam_step_(
            p, grad.clone(), m, v, neg_step[:, k : k + 1], bias2[:, k : k + 1], value_runs(wd), (0.9, 0.999), 1e-8
        )
    assert torch.equal(p, expected[0])
    p, buf = start.clone(), torch.zeros(M, P)
    for k, grad in enumerate(grads):
        momentum = torch.full((M, 1), 0.0 if k == 0 else 0.9)
        sgd_step_(p, grad.clone(), buf, momentum, value_runs(lr), value_runs(wd))
    assert torch.equal(p, expected[1])


def test_minibatches_are_the_permutation_cut_by_batch_size():
    pos, real = minibatch_slots(10, 4, 4, 6)
    assert pos.tolist() == [[0, 1, 2, 3, 0, 0], [4, 5, 6, 7, 4, 4], [8, 9, 8, 8, 8, 8], [9, 9, 9, 9, 9, 9]]
    assert real.sum(1).tolist() == [4, 4, 2, 0]
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(1))
    cut = [perm[p[r]].tolist() for p, r in zip(pos, real, strict=True)]
    assert cut[:3] == [c.tolist() for c in perm.split(4)]


def test_training_indices_are_the_rows_of_the_training_set(digits):
    for noise, fraction, seed in [(0.0, 1.0, 0), (0.3, 0.4, 7)]:
        x, y = training_set(digits, noise, fraction, seed)
        rows, labels = training_indices(digits, noise, fraction, seed)
        assert torch.equal(digits.x_train[rows], x) and torch.equal(labels, y)


def test_a_run_with_batch_models_trains_batches_keyed_by_their_members(tmp_path):
    from benchmark import pipeline

    from .conftest import compose_plain

    def models(batch: int) -> tuple[list, dict]:
        cfg = compose_plain(["experiment=tiny", f"batch_models={batch}", "descriptors=[param_count]"], tmp_path)
        result = pipeline.run(cfg, score=False)
        return result.models, result.store_counts["run"]

    alone, counts = models(1)
    assert counts == (0, 8)
    together, counts = models(4)
    assert counts == (0, 8)  # a model of a batch is another artifact than the same model trained alone
    assert [m.model_id for m in together] == [m.model_id for m in alone]
    for a, b in zip(alone, together, strict=True):
        assert b.metrics["test_accuracy"] == pytest.approx(a.metrics["test_accuracy"], abs=0.02)
        for name, value in a.state.items():
            np.testing.assert_allclose(b.state[name], value, rtol=1e-3, atol=1e-3)
    again, counts = models(4)
    assert counts == (8, 0)  # every batch loads whole
    assert all(np.array_equal(a.state[k], b.state[k]) for a, b in zip(together, again, strict=True) for k in a.state)
