"""Top Hessian eigenvalue and trace: our engine, PyHessian, and the dense Hessian as reference.

Both engines build the gradient graph once and apply Hessian-vector products (HVPs) by double
backpropagation; they differ in the algorithm (Lanczos vs power iteration) and the bookkeeping.
Timings include building the graph (PyHessian does it in its constructor, we in ``make_hvp``).
"""

from __future__ import annotations

import copy
import importlib.util
import math
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse.linalg
import torch

from benchmark.hessian import hutchinson_trace, make_hvp, top_eigenvalues
from benchmark.hessian.spectrum import lanczos, ritz
from benchmark.perf.cases import Case
from benchmark.perf.measure import timed

PYHESSIAN_INSTALL = "pip install pyhessian==0.1"
PYHESSIAN_TOLS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9)


@dataclass
class Estimate:
    """One estimate of a curvature quantity."""

    quantity: str  # "lambda_max" | "trace"
    method: str
    setting: str
    value: float
    hvps: int
    seconds: float
    stderr: float = math.nan  # Hutchinson's standard error
    reached: bool = True  # met the requested accuracy


@dataclass
class Reference:
    """Exact values from the dense Hessian (``n`` HVPs with the unit vectors)."""

    lambda_max: float
    trace: float
    n: int
    seconds: float
    asymmetry: float  # max |H - H^T| / max |H|: rounding of the products


def pyhessian_missing() -> str | None:
    """Why PyHessian cannot run here, or None."""
    if importlib.util.find_spec("pyhessian") is None:
        return f"pyhessian is not installed ({PYHESSIAN_INSTALL}): skipped"
    return None


def _fresh(case: Case) -> torch.nn.Module:
    return copy.deepcopy(case.model).eval().requires_grad_(True)


def dense_reference(case: Case) -> Reference:
    """The Hessian row by row, symmetrised; its largest eigenvalue and its trace."""

    def build() -> np.ndarray:
        hvp, n = make_hvp(_fresh(case), case.objective)
        H = np.empty((n, n))
        e = torch.zeros(n)
        for i in range(n):
            e[i] = 1.0
            H[i] = hvp(e).double().numpy()
            e[i] = 0.0
        return H

    H, seconds = timed(build)
    asym = float(np.abs(H - H.T).max() / max(np.abs(H).max(), 1e-300))
    H = (H + H.T) / 2
    if len(H) <= 3000:
        lam = float(np.linalg.eigvalsh(H)[-1])
    else:  # ARPACK to machine precision: far cheaper than a full eigendecomposition
        v0 = np.ones(len(H)) / math.sqrt(len(H))
        lam = float(scipy.sparse.linalg.eigsh(H, k=1, which="LA", tol=0, v0=v0, return_eigenvectors=False)[0])
    return Reference(lam, float(np.trace(H)), len(H), seconds, asym)


def lanczos_steps_for(case: Case, rel_tol: float, exact: float, seed: int, max_steps: int = 200) -> tuple[int, bool]:
    """Fewest Lanczos steps whose top Ritz value is within ``rel_tol`` of ``exact`` (the first
    ``m`` steps of a longer run are exactly an ``m``-step run), and whether that was reached."""
    hvp, n = make_hvp(_fresh(case), case.objective)
    alpha, beta, _ = lanczos(hvp, n, max_steps, seed)
    for m in range(1, len(alpha) + 1):
        top = ritz(alpha[:m], beta[: m - 1])[0][-1]
        if abs(top - exact) <= rel_tol * abs(exact):
            return m, True
    return len(alpha), False


def ours_lambda_max(case: Case, steps: int, seed: int, setting: str, reached: bool = True) -> Estimate:
    """``make_hvp`` + ``top_eigenvalues`` with ``steps`` Lanczos steps."""

    def run() -> tuple[float, int]:
        hvp, n = make_hvp(_fresh(case), case.objective)
        evals, used = top_eigenvalues(hvp, n, 1, steps, seed)
        return float(evals[0]), used

    (value, used), seconds = timed(run)
    return Estimate("lambda_max", "ours (Lanczos)", setting, value, used, seconds, reached=reached)


def ours_trace(case: Case, probes: int, seed: int) -> Estimate:
    """``make_hvp`` + ``hutchinson_trace`` with ``probes`` Rademacher probes."""

    def run() -> tuple[float, float]:
        hvp, n = make_hvp(_fresh(case), case.objective)
        return hutchinson_trace(hvp, n, probes, seed)

    (value, se), seconds = timed(run)
    return Estimate("trace", "ours (Hutchinson)", f"{probes} probes", value, probes, seconds, stderr=se)


@contextmanager
def _pyhessian(case: Case, seed: int) -> Iterator[tuple[Any, list]]:
    """A PyHessian ``hessian`` object on a fresh copy of the model, its HVPs counted, the global
    RNG it draws from seeded (and restored afterwards)."""
    from pyhessian import hessian

    module = sys.modules["pyhessian.hessian"]
    original = module.hessian_vector_product
    counted, count = _counted_hvp(original)
    objective = case.objective

    def criterion(outputs: torch.Tensor, targets: Any) -> torch.Tensor:
        return objective.fn(lambda _x: outputs, objective.inputs, targets)

    module.hessian_vector_product = counted
    try:
        with torch.random.fork_rng(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # backward(create_graph=True) reference-cycle warning
            torch.manual_seed(seed)
            yield hessian(_fresh(case), criterion, data=(objective.inputs, objective.targets), cuda=False), count
    finally:
        module.hessian_vector_product = original


def _counted_hvp(fn: Callable[..., Any]) -> tuple[Callable[..., Any], list]:
    count = [0]

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return fn(*args, **kwargs)

    return wrapped, count


def pyhessian_lambda_max(case: Case, tol: float, seed: int, max_iter: int = 1000) -> Estimate:
    """PyHessian's power iteration, ``eigenvalues(top_n=1, tol=tol)``; the constructor is timed too."""

    def run() -> tuple[float, int]:
        with _pyhessian(case, seed) as (h, count):
            evals, _ = h.eigenvalues(maxIter=max_iter, tol=tol, top_n=1)
            return float(evals[0]), count[0]

    (value, used), seconds = timed(run)
    return Estimate("lambda_max", "PyHessian (power iteration)", f"tol={tol:g}", value, used, seconds)


def pyhessian_lambda_max_to(case: Case, rel_tol: float, exact: float, seed: int) -> tuple[Estimate, float]:
    """PyHessian at the loosest ``tol`` (of ``PYHESSIAN_TOLS``) whose estimate is within ``rel_tol``
    of ``exact``, and that ``tol``; the tightest tried, marked not reached, when none is."""
    for tol in PYHESSIAN_TOLS:
        est = pyhessian_lambda_max(case, tol, seed)
        if abs(est.value - exact) <= rel_tol * abs(exact):
            return est, tol
    est.reached = False
    return est, tol


def pyhessian_trace(case: Case, probes: int, seed: int) -> Estimate:
    """PyHessian's Hutchinson estimate with exactly ``probes`` probes (``tol=-inf`` disables its
    early stop)."""

    def run() -> list[float]:
        with _pyhessian(case, seed) as (h, _count):
            return h.trace(maxIter=probes, tol=-math.inf)

    samples, seconds = timed(run)
    s = np.asarray(samples, dtype=np.float64)
    se = float(s.std(ddof=1) / math.sqrt(len(s))) if len(s) > 1 else math.nan
    return Estimate("trace", "PyHessian (Hutchinson)", f"{len(s)} probes", float(s.mean()), len(s), seconds, se)
