"""A stage's, task's or descriptor's code may not change while its version stays the same.

Store keys carry each stage's code version (``VERSION`` of ``landscape/stage.py``,
``hessian/stage.py``, ``evaluation/design.py``, ``evaluation/univariate.py``), each zoo task's
``version``, batched training's (``VERSION`` of ``zoo/batched.py``) and each descriptor's
``version``, so that a store filled by older code is not served as if it were new. Whether the
code changed is read off a fingerprint: the SHA-256 of the source of the subject's module and of
every ``benchmark`` module it uses (transitively), docstrings and comments removed, except modules
that carry versions of their own upstream (zoo tasks, models and datasets for the stages and
descriptors) and the plumbing (store, records, registry).

When this test fails, raise the version it names (a new version recomputes what that code
produced), then record the new fingerprints. A change that cannot alter any stored result (a
message, a check before work, a refactor shown to give byte-identical outputs) is recorded without
raising the version; say so in the commit::

    LANDSCAPE_BENCH_UPDATE_VERSIONS=1 .venv/bin/python -m pytest tests/test_versions.py
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import os
import sys
import types
from pathlib import Path

from benchmark import pipeline
from benchmark.descriptors import DESCRIPTORS
from benchmark.evaluation import design, univariate
from benchmark.hessian import stage as curvature
from benchmark.landscape import stage as landscape
from benchmark.zoo import TASKS, batched

RECORDED = Path(__file__).with_name("code_versions.json")
PLUMBING = ("benchmark.records", "benchmark.store", "benchmark.registry", "benchmark.errors", "benchmark.scores")
UPSTREAM = ("benchmark.zoo", "benchmark.models", "benchmark.data")  # versioned by the zoo tasks
DESCRIPTOR_PACKAGE = "benchmark.descriptors"  # versioned by each descriptor


def normalized_source(source: str) -> str:
    """``source`` as code only: parsed and unparsed (comments and layout gone), docstrings removed."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            first = body[0].value if body and isinstance(body[0], ast.Expr) else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def _excluded(name: str, skip: tuple[str, ...]) -> bool:
    return not name.startswith("benchmark.") or any(name == s or name.startswith(s + ".") for s in skip)


def closure(module: types.ModuleType, skip: tuple[str, ...]) -> list[types.ModuleType]:
    """``module`` and every ``benchmark`` module whose functions, classes or self it uses,
    transitively, except the packages in ``skip``."""
    seen: dict[str, types.ModuleType] = {}
    todo = [module]
    while todo:
        mod = todo.pop()
        if mod.__name__ in seen:
            continue
        seen[mod.__name__] = mod
        for value in vars(mod).values():
            if isinstance(value, types.ModuleType):
                used = value
            elif inspect.isfunction(value) or inspect.isclass(value):
                used = sys.modules.get(value.__module__)
            else:
                continue
            if used is not None and not _excluded(used.__name__, skip) and hasattr(used, "__file__"):
                todo.append(used)
    return [seen[n] for n in sorted(seen)]


def fingerprint(module: types.ModuleType, skip: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for mod in closure(module, skip):
        digest.update(mod.__name__.encode() + b"\0" + normalized_source(Path(mod.__file__).read_text()).encode())
    return digest.hexdigest()


def subjects() -> dict[str, tuple[str, str, str]]:
    """``subject -> (version, fingerprint, where the version is declared)``."""
    stage_skip = (*PLUMBING, *UPSTREAM, DESCRIPTOR_PACKAGE)
    out = {}
    for name, module in (
        ("landscape", landscape),
        ("curvature", curvature),
        ("scores", design),
        ("univariate", univariate),
    ):
        out[f"stage:{name}"] = (module.VERSION, fingerprint(module, stage_skip), f"VERSION in {module.__name__}")
    for name in TASKS.names():
        task = type(TASKS.get(name))
        module = sys.modules[task.__module__]
        out[f"task:{name}"] = (task.version, fingerprint(module, PLUMBING), f"{task.__name__}.version")
    out["trainer:batched"] = (batched.VERSION, fingerprint(batched, PLUMBING), "VERSION in benchmark.zoo.batched")
    for name in DESCRIPTORS.names():
        cls = DESCRIPTORS.get(name)
        module = sys.modules[cls.__module__]
        digest = fingerprint(module, (*PLUMBING, *UPSTREAM))
        out[f"descriptor:{name}"] = (cls.version, digest, f"{cls.__name__}.version")
    return out


def test_no_versioned_code_changed_without_its_version():
    current = subjects()
    if os.environ.get("LANDSCAPE_BENCH_UPDATE_VERSIONS"):
        table = {k: {"version": v, "fingerprint": f} for k, (v, f, _) in sorted(current.items())}
        RECORDED.write_text(json.dumps(table, indent=1) + "\n")
    recorded = json.loads(RECORDED.read_text())
    refresh = "then record it: LANDSCAPE_BENCH_UPDATE_VERSIONS=1 .venv/bin/python -m pytest tests/test_versions.py"
    problems = []
    for subject, (version, digest, where) in current.items():
        old = recorded.get(subject)
        if old is None:
            problems.append(f"{subject} has no recorded fingerprint; {refresh}.")
        elif old["fingerprint"] != digest and old["version"] == version:
            problems.append(
                f"{subject}: its code changed but its version is still {version!r}; raise {where} (a store "
                f"filled by the old code would serve stale results), {refresh}."
            )
        elif old["version"] != version:
            problems.append(f"{subject}: version {old['version']!r} -> {version!r}; {refresh}.")
    problems += [f"{s} is recorded but no longer exists; {refresh}." for s in sorted(set(recorded) - set(current))]
    assert not problems, "\n".join(problems)


def test_fingerprints_see_code_not_docstrings_or_comments():
    code = 'def f(x):\n    """Doc."""\n    return x + 1  # one\n'
    assert normalized_source(code) == normalized_source('def f(x):\n    """Other doc."""\n\n    return x + 1\n')
    assert normalized_source(code) != normalized_source('def f(x):\n    """Doc."""\n    return x + 2\n')


def test_a_stage_fingerprint_covers_the_math_it_uses():
    names = {m.__name__ for m in closure(landscape, (*PLUMBING, *UPSTREAM, DESCRIPTOR_PACKAGE))}
    assert {"benchmark.landscape.grid", "benchmark.landscape.directions", "benchmark.hessian.spectrum"} <= names
    assert not any(n.startswith(("benchmark.zoo", "benchmark.store")) for n in names)
    assert {s.name for s in pipeline.STAGES if s.version not in ("per task", "per descriptor")} == {
        "landscape",
        "curvature",
        "scores",
        "univariate",
    }
