"""The ``device`` setting and node-batched grid evaluation (docs/configuration.md, docs/performance.md).

On this CPU-only machine: ``device=cpu`` and ``device=auto`` plan the same store keys as before the
setting existed (so they give the same leaderboards), an accelerator torch cannot see is refused
before any work, and node-batched grids equal per-node grids within float32 rounding on the digits
MLP and CNN and a timm model, chunked by the memory budget.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark import device, pipeline
from benchmark.landscape import grid_axes, perturbable_parameters, random_direction
from benchmark.landscape.grid import NodeBudgetError, evaluate_grid, evaluate_grid_batched, node_bytes, nodes_per_chunk
from benchmark.landscape.stage import compute_landscape, node_memory
from benchmark.models import build_model
from benchmark.models.base import architecture_spec
from benchmark.zoo import Objective
from benchmark.zoo.classification import cross_entropy

from .conftest import compose_plain

NO_CUDA = not torch.cuda.is_available()


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "CPU", 3, None])
def test_unknown_devices_are_refused_with_the_choices(bad):
    (message,) = device.device_problems(bad)
    assert f"device={bad!r}" in message and "auto" in message and "cuda:N" in message


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a CUDA GPU")
@pytest.mark.parametrize("asked", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_a_gpu_is_refused(asked):
    (message,) = device.device_problems(asked)
    assert f"device={asked}" in message and "sees none" in message and "device=cpu" in message


def test_cpu_and_auto_resolve_here_and_add_nothing_to_keys():
    assert device.device_problems("cpu") == device.device_problems("auto") == []
    if NO_CUDA and not device._mps_available():
        assert device.resolve("auto") == torch.device("cpu")
    assert device.key_part(torch.device("cpu")) == {}
    assert device.key_part(torch.device("mps")) == {"device": "mps"}  # a GPU also names its model


def test_moved_reaches_nested_tensors_and_keeps_the_rest():
    t = torch.ones(2)
    out = device.moved({"a": t, "b": [t, 3.0], "c": (t,), "d": "x"}, torch.device("cpu"))
    assert out["a"] is t and out["b"][0] is t and out["b"][1] == 3.0 and out["c"][0] is t and out["d"] == "x"


def _planned_keys(overrides: list[str], tmp_path, drop: str | None = None) -> dict[str, dict[str, bool]]:
    cfg = compose_plain(["experiment=tiny", *overrides], tmp_path)
    if drop:
        cfg.pop(drop)
    keys: dict[str, dict[str, bool]] = {}
    pipeline.plan(cfg, keys)
    return keys


def test_cpu_and_auto_plan_the_keys_of_a_run_without_the_setting(tmp_path):
    keys = _planned_keys([], tmp_path, drop="device")
    assert _planned_keys(["device=cpu"], tmp_path) == keys
    if NO_CUDA:
        assert _planned_keys(["device=auto"], tmp_path) == keys
    assert _planned_keys(["landscape.node_batch=false", "landscape.node_memory_mb=5"], tmp_path) == keys


def test_node_batching_joins_the_landscape_keys_only(tmp_path):
    base, batched = _planned_keys([], tmp_path), _planned_keys(["landscape.node_batch=true"], tmp_path)
    assert batched["landscape"].keys() != base["landscape"].keys()
    assert batched["run"].keys() == base["run"].keys() and batched["curvature"].keys() == base["curvature"].keys()


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_fails_before_any_work(tmp_path):
    cfg = compose_plain(["experiment=tiny", "device=cuda"], tmp_path)
    with pytest.raises(pipeline.ConfigError, match="device=cuda"):
        pipeline.run(cfg)
    assert not (tmp_path / "home").exists()


def test_node_memory_follows_the_setting_and_the_device():
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert node_memory({"node_batch": "auto"}, cpu) is None
    assert node_memory({"node_batch": "auto", "node_memory_mb": 64}, gpu) == 64.0
    assert node_memory({"node_batch": True}, cpu) == 1024.0
    assert node_memory({"node_batch": False}, gpu) is None


def test_bad_node_batch_settings_are_refused_before_work(tmp_path):
    for bad, name in (
        ("landscape.node_batch=sometimes", "node_batch"),
        ("landscape.node_memory_mb=0", "node_memory_mb"),
    ):
        with pytest.raises(pipeline.ConfigError, match=f"landscape.{name}"):
            pipeline.validate(compose_plain(["experiment=tiny", bad], tmp_path))


def _model_and_objective(arch: str, input_shape, n_samples: int = 16, **hp):
    torch.manual_seed(0)
    model = build_model(architecture_spec(arch, input_shape, 10, hp)).eval()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n_samples, *input_shape, generator=g)
    y = torch.randint(0, 10, (n_samples,), generator=g)
    return model, Objective(x, y, cross_entropy)


def _directions(model, ndim: int = 2):
    params = {n: p.detach() for n, p in model.named_parameters()}
    g = torch.Generator().manual_seed(0)
    return [random_direction(params, perturbable_parameters(model), g) for _ in range(ndim)]


CASES = {
    "digits_mlp": ("mlp", (64,), {"width": 16, "depth": 2}),
    "digits_cnn": ("convnet", (1, 8, 8), {"width": 4, "depth": 2, "residual": True}),
    "timm": ("timm", (1, 16, 16), {"model_name": "resnet10t"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_node_batched_grid_equals_per_node_grid(case):
    arch, shape, hp = CASES[case]
    model, objective = _model_and_objective(arch, shape, **hp)
    dirs = _directions(model)
    small = case == "timm"  # a timm forward costs about 100x the others': a 3x3 grid there
    axes = grid_axes(2, 3 if small else 5, 0.5)
    per_node = evaluate_grid(model, objective, dirs, axes)
    for chunk in (4, 9) if small else (1, 7, 25):  # one node, chunks across rows, the whole grid
        batched = evaluate_grid_batched(model, objective, dirs, axes, chunk)
        np.testing.assert_allclose(batched, per_node, rtol=2e-5, atol=1e-6, err_msg=f"{case}, chunk {chunk}")


def test_batched_grid_resumes_rows_and_reports_each_row():
    model, objective = _model_and_objective(*CASES["digits_mlp"][:2], **CASES["digits_mlp"][2])
    dirs, axes = _directions(model), grid_axes(2, 5, 0.5)
    full = evaluate_grid(model, objective, dirs, axes)
    done = np.array([True, False, True, False, False])
    start = np.where(done[:, None], full, np.nan)
    rows, ticks = [], []
    out = evaluate_grid_batched(
        model,
        objective,
        dirs,
        axes,
        3,
        progress=ticks.append,
        resume=(start, done),
        on_row=lambda v, d: rows.append(d.sum()),
    )
    np.testing.assert_allclose(out, full, rtol=2e-5, atol=1e-6)
    assert rows == [3, 4, 5] and sum(ticks) == 25


def test_a_tiny_budget_runs_in_chunks_and_one_below_a_node_names_the_setting(
    tiny_record, digits, monkeypatch, tmp_path
):
    import benchmark.landscape.stage as stage

    cfg = pipeline._stage_cfg(compose_plain(["experiment=tiny", "landscape.steps=5"], tmp_path)["landscape"])
    model, objective = _model_and_objective(*CASES["digits_mlp"][:2], **CASES["digits_mlp"][2])
    per_node = node_bytes(model, objective, _directions(model))
    assert nodes_per_chunk(per_node, 3.5 * per_node / 2**20) == 3
    with pytest.raises(NodeBudgetError, match=r"landscape.node_memory_mb=.*node_batch=false"):
        nodes_per_chunk(per_node, 0.5 * per_node / 2**20)

    chunks = []
    real = stage.evaluate_grid_batched
    monkeypatch.setattr(stage, "evaluate_grid_batched", lambda *a, **k: chunks.append(a[4]) or real(*a, **k))
    reference = compute_landscape(tiny_record, digits, cfg)
    record_model = stage.record_module(tiny_record)
    ls_objective = stage._objective(tiny_record, digits, cfg["n_samples"], cfg["seed"])
    one_node = node_bytes(record_model, ls_objective, stage.landscape_directions(record_model, ls_objective, cfg)[0])
    batched = compute_landscape(tiny_record, digits, cfg, node_memory_mb=4.5 * one_node / 2**20)
    assert chunks == [4]  # 25 nodes in chunks of 4
    np.testing.assert_allclose(batched.values, reference.values, rtol=2e-5, atol=1e-6)
    with pytest.raises(NodeBudgetError, match=r"landscape\.node_memory_mb"):
        compute_landscape(tiny_record, digits, cfg, node_memory_mb=0.5 * one_node / 2**20)


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a CUDA GPU")
def test_the_documented_refusal_is_what_the_command_prints(tmp_path):
    """docs/configuration.md, "Devices": the example command, run, prints the example's message."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    block = re.search(r"## Devices.*?```\n\$ (.*?)\n(.*?)```", page, flags=re.S)
    assert block, "docs/configuration.md has no Devices example"
    command, shown = block.group(1).split(), block.group(2).strip().splitlines()
    exe = Path(sys.executable).parent / command[0]
    r = subprocess.run(
        [str(exe), *command[1:], f"paths.home={tmp_path}"], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert r.returncode == 2
    assert shown[-1] in (r.stdout + r.stderr).splitlines(), r.stderr


def test_micro_batched_hessian_products_equal_the_whole_batch(tiny_record, digits):
    """H v summed over micro-batches (weighted by their shares) is the whole batch's H v, and the
    curvature stage's spectrum and trace agree; the exact Hessian checks both."""
    from benchmark.hessian import stage as curvature_stage
    from benchmark.hessian.hvp import make_hvp, make_micro_batch_hvp
    from benchmark.models import record_module
    from benchmark.zoo import TASKS

    from .conftest import dense_hessian

    model = record_module(tiny_record)
    objective = TASKS.get("classification").objective(tiny_record, digits, 50, 0)
    whole, n = make_hvp(model, objective)
    parts, m = make_micro_batch_hvp(model, objective.micro_batches(16))  # 16 + 16 + 16 + 2 examples
    assert m == n and [round(w * 50) for w, _ in objective.micro_batches(16)] == [16, 16, 16, 2]
    exact = torch.from_numpy(dense_hessian(model, objective.inputs, objective.targets))
    v = torch.randn(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(parts(v).double(), whole(v).double(), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(parts(v).double(), exact @ v, rtol=1e-3, atol=1e-5)
    cfg = {"n_samples": 50, "seed": 0, "top_k": 2, "lanczos_iters": 20, "trace_samples": 8, "slq_probes": 0}
    a = curvature_stage.compute_curvature(tiny_record, digits, {**cfg, "micro_batch": None})
    b = curvature_stage.compute_curvature(tiny_record, digits, {**cfg, "micro_batch": 16})
    np.testing.assert_allclose(b.eigenvalues, a.eigenvalues, rtol=1e-4)
    assert b.trace == pytest.approx(a.trace, rel=1e-4)


def test_micro_batch_keys_and_refusals(tmp_path):
    base = _planned_keys([], tmp_path)
    assert _planned_keys(["curvature.micro_batch=null"], tmp_path) == base  # the old keys
    assert _planned_keys(["curvature.micro_batch=8"], tmp_path)["curvature"].keys() != base["curvature"].keys()
    for bad in ("curvature.micro_batch=0", "curvature.micro_batch=abc"):
        with pytest.raises(pipeline.ConfigError, match=r"curvature\.micro_batch"):
            pipeline.validate(compose_plain(["experiment=tiny", bad], tmp_path))
    with pytest.raises(pipeline.ConfigError, match="pinn_convection"):
        pipeline.validate(compose_plain(["experiment=pinn_convection", "curvature.micro_batch=64"], tmp_path))
