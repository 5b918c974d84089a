"""Descriptors: registered feature extractors, one class per file, one YAML per class.

Importing this package registers the built-in descriptors; ``DESCRIPTORS`` finds them by name.
"""

from benchmark.descriptors import average_persistence as _average_persistence  # noqa: F401
from benchmark.descriptors import geometry as _geometry  # noqa: F401
from benchmark.descriptors import hessian as _hessian  # noqa: F401
from benchmark.descriptors import homology as _homology  # noqa: F401
from benchmark.descriptors import hyperparameters as _hyperparameters  # noqa: F401
from benchmark.descriptors import merge_tree as _merge_tree  # noqa: F401
from benchmark.descriptors import param_count as _param_count  # noqa: F401
from benchmark.descriptors import path_norm as _path_norm  # noqa: F401
from benchmark.descriptors import smad as _smad  # noqa: F401
from benchmark.descriptors import sublevel_tree as _sublevel_tree  # noqa: F401
from benchmark.descriptors import superlevel_tree as _superlevel_tree  # noqa: F401
from benchmark.descriptors import weight_norm as _weight_norm  # noqa: F401
from benchmark.descriptors import weight_spectrum as _weight_spectrum  # noqa: F401
from benchmark.descriptors.base import (
    DESCRIPTORS,
    Descriptor,
    DescriptorInputs,
    build_descriptor,
    descriptor_problems,
    feature_table,
    register_descriptor,
)

__all__ = [
    "DESCRIPTORS",
    "Descriptor",
    "DescriptorInputs",
    "build_descriptor",
    "descriptor_problems",
    "feature_table",
    "register_descriptor",
]
