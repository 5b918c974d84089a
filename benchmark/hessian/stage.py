"""The curvature stage: the Hessian spectrum of one model's training objective at its weights.

:data:`VERSION` names this package's code in the store keys; tests/test_versions.py fails when the
code changes without it being raised.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from benchmark import device
from benchmark.errors import ConfigError
from benchmark.hessian.hvp import make_hvp, make_micro_batch_hvp, parameter_blocks
from benchmark.hessian.spectrum import hutchinson_samples, mean_and_se, restrict, slq, top_eigenvalues
from benchmark.models import record_module
from benchmark.records import Curvature, ModelRecord
from benchmark.zoo import TASKS

log = logging.getLogger(__name__)

VERSION = "3"
"""Code version of the curvature stage (joins every curvature's store key)."""


def curvature_problems(cv: Mapping[str, Any]) -> list[str]:
    """What the ``curvature`` node of a resolved config gets wrong, one message each."""
    problems = []
    if not 1 <= cv["top_k"] <= cv["lanczos_iters"]:
        problems.append(
            f"curvature.top_k={cv['top_k']} must be >= 1 and <= curvature.lanczos_iters={cv['lanczos_iters']}; "
            "raise lanczos_iters or lower top_k."
        )
    if cv["trace_samples"] < 2:
        problems.append(f"curvature.trace_samples={cv['trace_samples']} must be >= 2 (64 is typical).")
    micro = cv.get("micro_batch")
    if micro is not None and (isinstance(micro, bool) or not isinstance(micro, int) or micro < 1):
        problems.append(f"curvature.micro_batch={micro!r} must be an integer >= 1 (examples per pass) or null.")
    if cv.get("slq_probes", 0) < 0:
        problems.append(f"curvature.slq_probes={cv['slq_probes']} must be >= 0 (0: no spectral density).")
    return problems


def compute_curvature(record: ModelRecord, data: Any, c_cfg: Mapping[str, Any]) -> Curvature:
    """Top-k eigenvalues (Lanczos), trace (Hutchinson) and, when asked, the spectral density (SLQ,
    ``slq_probes`` > 0) and per-layer traces and lambda_max (``per_layer``) of the training
    objective's Hessian at the trained weights."""
    model = record_module(record).to(device.current())
    objective = TASKS.get(record.task).objective(record, data, c_cfg["n_samples"], c_cfg["seed"]).to(device.current())
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    k, iters, seed = c_cfg["top_k"], c_cfg["lanczos_iters"], c_cfg["seed"]
    if k > n_params:
        raise ConfigError(
            f"curvature.top_k={k} exceeds the {n_params} parameters of model {record.model_id!r}; "
            f"lower curvature.top_k to at most {n_params}."
        )
    blocks = parameter_blocks(model) if c_cfg.get("per_layer") else []
    try:
        micro = c_cfg.get("micro_batch")
        hvp, n = (
            make_micro_batch_hvp(model, objective.micro_batches(int(micro))) if micro else make_hvp(model, objective)
        )
        evals, n_lanczos = top_eigenvalues(hvp, n, k, iters, seed)
        samples, block_samples = hutchinson_samples(hvp, n, c_cfg["trace_samples"], seed, [b for _, b in blocks])
        n_hvp = n_lanczos + c_cfg["trace_samples"]
        probes = int(c_cfg.get("slq_probes", 0))
        nodes, weights = slq(hvp, n, probes, iters, seed) if probes else (np.zeros((0, 0)), np.zeros((0, 0)))
        n_hvp += probes * min(iters, n)
        layer_max = np.full(len(blocks), np.nan)
        if c_cfg.get("per_layer"):
            for i, (_, block) in enumerate(blocks):
                op, size = restrict(hvp, n, block)
                layer_max[i] = top_eigenvalues(op, size, 1, iters, seed)[0][0]
                n_hvp += min(iters, size)
    except RuntimeError as exc:  # an operation torch cannot differentiate twice
        note = f"Hessian-vector products failed: {str(exc).splitlines()[0]}"
        log.warning("curvature of %s is undefined: %s", record.model_id, note)
        return Curvature(record.model_id, np.full(k, np.nan), math.nan, math.nan, n_params, 0, dict(c_cfg), note)
    trace, se = mean_and_se(samples)
    layer_trace, layer_se = mean_and_se(block_samples)
    return Curvature(
        record.model_id,
        evals,
        float(trace),
        float(se),
        n,
        n_hvp,
        dict(c_cfg),
        slq_nodes=nodes,
        slq_weights=weights,
        layers=tuple(name for name, _ in blocks),
        layer_trace=layer_trace,
        layer_trace_se=layer_se,
        layer_lambda_max=layer_max,
    )
