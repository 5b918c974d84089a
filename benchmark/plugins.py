"""User code named in the config (``plugins``): imported before anything else, so that its
registrations (descriptors, regressors, datasets) take effect."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path

from benchmark.errors import ConfigError


def load_plugins(plugins: Iterable[str]) -> None:
    """Import user modules (dotted names or ``.py`` paths) so their registrations take effect."""
    for entry in plugins:
        path = Path(entry)
        if entry.endswith(".py"):
            if not path.is_file():
                raise ConfigError(f"plugin file {entry!r} does not exist; give a path to a .py file or a module name.")
            name = f"landscape_bench_plugin_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
            if name in sys.modules:
                continue
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        else:
            try:
                importlib.import_module(entry)
            except ImportError as exc:
                raise ConfigError(f"plugin module {entry!r} cannot be imported ({exc}).") from None
