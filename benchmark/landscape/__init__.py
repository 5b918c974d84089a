"""Loss landscapes: directions in weight space and loss on a grid along them."""

from benchmark.landscape.directions import perturbable_parameters, random_direction
from benchmark.landscape.grid import evaluate_grid, grid_axes

__all__ = ["evaluate_grid", "grid_axes", "perturbable_parameters", "random_direction"]
