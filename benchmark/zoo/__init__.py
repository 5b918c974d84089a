"""Zoos: populations of trained models with their hyperparameters and measured targets.

A zoo config names a task (``TASKS``), an architecture, fixed hyperparameters and axes; the zoo is
the full grid over the axes. A zoo measured elsewhere is read from a manifest of checkpoints
(``manifest``), from a public zoo's published layout (``small_cnn_zoo``, ``model_zoos``: the
readers of :mod:`benchmark.zoo.readers`) or from a feature table (``table``: no weights, the
features come with it). Importing this package registers the built-in tasks, the readers and the
``${table_targets:...}`` resolver.
"""

from benchmark.zoo import classification as _classification  # noqa: F401  (registers "classification")
from benchmark.zoo import model_zoos as _model_zoos  # noqa: F401  (registers the "model_zoos" reader)
from benchmark.zoo import pinn as _pinn  # noqa: F401  (registers "pinn_convection")
from benchmark.zoo import small_cnn_zoo as _small_cnn_zoo  # noqa: F401  (registers the "small_cnn_zoo" reader)
from benchmark.zoo import table as _table  # noqa: F401  (registers the ${table_targets:...} resolver)
from benchmark.zoo.base import TASKS, Objective, Task, train_run
from benchmark.zoo.spec import ModelSpec, expand_zoo, zoo_specs

__all__ = ["TASKS", "ModelSpec", "Objective", "Task", "expand_zoo", "train_run", "zoo_specs"]
