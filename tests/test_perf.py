"""Smoke test of the performance benchmark (``landscape-bench-perf``) at tiny sizes."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from benchmark import device
from benchmark.perf import engine
from benchmark.perf.grid_methods import GRID_METHODS


def _section(text: str, title: str) -> list[dict[str, str]]:
    """The Markdown table under ``### title`` as a list of {column: cell}."""
    body = text.split(f"### {title}\n", 1)[1].split("\n### ", 1)[0]
    lines = [ln for ln in body.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in ln.strip("|").split("|")), strict=True)) for ln in lines[2:]]


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    out = tmp_path_factory.mktemp("perf") / "table.md"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert engine.main(["--quick", "--threads", "1", "--out", str(out)]) == 0
    return buf.getvalue(), out.read_text()


def test_quick_run_prints_our_row_and_the_naive_row_for_both_models(quick_report):
    printed, written = quick_report
    assert printed == written
    rows = _section(printed, "Grid evaluation")
    for model in ("digits MLP", "digits CNN"):
        methods = {r["method"]: r for r in rows if r["model"].startswith(model)}
        assert {"ours", "naive loop"} <= set(methods)
        assert methods["ours"]["grid"] == "5x5"
        assert float(methods["ours"]["× ours"]) == 1.0
        assert float(methods["naive loop"]["max abs Δ (as returned)"]) <= 1e-6
        for r in methods.values():
            assert float(r["points/s"].replace(",", "")) > 0
            assert 0 < float(r["% of peak"]) < 100


def test_quick_run_compares_curvature_with_the_dense_hessian(quick_report):
    rows = _section(quick_report[0], "Curvature")
    ours = [r for r in rows if r["method"] == "ours (Lanczos)"]
    assert ours and all(float(r["rel. error"]) <= 1e-4 for r in ours)  # --eig-tol default
    assert any(r["method"] == "dense Hessian" and r["quantity"] == "trace" for r in rows)


def test_installed_peers_agree_with_ours_at_the_nodes_they_visit(quick_report):
    for r in _section(quick_report[0], "Grid evaluation"):
        if r["method"] != "ours":
            assert float(r["max abs Δ (same nodes)"]) <= 1e-5, r


def test_a_missing_peer_is_skipped_with_a_note(monkeypatch, capsys):
    peer = next(m for m in GRID_METHODS if m.package == "loss-landscapes")
    monkeypatch.setattr(peer, "module", "no_such_module_for_landscape_bench")
    assert engine.main(["--quick", "--threads", "1", "--models", "mlp", "--hessian-models", ""]) == 0
    text = capsys.readouterr().out
    assert "skipped: loss-landscapes random_plane: loss-landscapes is not installed" in text
    assert "loss-landscapes random_plane |" not in text
    assert {r["method"] for r in _section(text, "Grid evaluation")} >= {"ours", "naive loop"}


def test_grid_variants_compute_the_engines_values():
    """Every variant of ``landscape-bench-perf-grid-variants`` evaluates the same grid (tiny
    MLP and CNN, 1 epoch, 5x5 / 3x3 nodes), to float32 rounding."""
    from benchmark.data import load_dataset
    from benchmark.perf.cases import build_case
    from benchmark.perf.grid_variants import measure, render

    data = load_dataset("digits")
    rows = []
    for key, steps in (("mlp", 5), ("cnn", 3)):
        rows += measure(build_case(key, data, steps, 64, epochs=1, quick=True), chunks=[2], repeats=1)
    names = {(r.model.split(" (")[0], r.variant) for r in rows}
    assert ("digits CNN", "channels-last") in names and ("digits MLP", "channels-last") not in names
    assert ("digits MLP", "in-place + torch.compile") in names and ("digits MLP", "vmap over 2 nodes") in names
    for r in rows:
        assert r.max_abs_diff <= 1e-4, r
        assert r.points_per_s > 0 and (r.ratio == 1.0) == (r.variant == "engine")
    assert render(rows, 1).count("\n| digits") == len(rows)


def test_the_cifar_size_case_and_the_node_batched_path_on_the_chosen_device(capsys):
    """``--models resnet20 --node-batched --device cpu``: the ResNet-20 case on random CIFAR-size
    images, our node-batched path beside the per-node one, equal values, the device named."""
    argv = ["--quick", "--threads", "1", "--models", "resnet20", "--hessian-models", "", "--no-peers"]
    assert engine.main([*argv, "--node-batched", "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert f"; device cpu ({device.cpu_name()}, " in text and " kernels); fp32 matmul peak there" in text
    assert "random images of cifar10's shape" in text
    rows = {r["method"]: r for r in _section(text, "Grid evaluation")}
    assert set(rows) == {"ours", "ours, node-batched", "naive loop"}
    assert all(r["model"].startswith("ResNet-20 (residual, width 8") and r["grid"] == "3x3" for r in rows.values())
    largest = float(
        re.search(r"nodes per call \(landscape.node_memory_mb's default\); largest \|loss\| (\S+)", text)[1]
    )
    assert float(rows["ours, node-batched"]["max abs Δ (as returned)"]) <= 1e-5 * max(1.0, largest)  # float32 rounding


def test_an_unknown_case_or_an_absent_accelerator_stops_before_any_work(capsys):
    with pytest.raises(SystemExit) as stop:
        engine.main(["--quick", "--models", "mlp,vgg"])
    assert stop.value.code == 2
    assert "--models mlp,vgg: ['vgg'] are not cases; the cases are mlp, cnn, resnet20" in capsys.readouterr().err
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(SystemExit) as stop:
            engine.main(["--quick", "--device", "cuda"])
        assert stop.value.code == 2
        assert "cuda" in capsys.readouterr().err
