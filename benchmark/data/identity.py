"""What the store keys know of a dataset: its resolved config node, plus a digest of the data for
datasets read from a user's file, which can change while the node stays the same."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

CONTENT_DIGESTS: dict[str, Callable[[Mapping[str, Any]], str]] = {}
"""Dataset name -> a digest of the data its config node points at (``csv``: the file's bytes)."""


def dataset_identity(params: Mapping[str, Any]) -> dict[str, Any]:
    """A resolved ``dataset`` config node as the store keys see it: the node itself, plus a
    ``content_sha256`` for datasets with a :data:`CONTENT_DIGESTS` entry (an edited file is then a
    new dataset, whose models are trained afresh). Other datasets' nodes are returned unchanged."""
    digest = CONTENT_DIGESTS.get(str(params.get("name")))
    return {**params, "content_sha256": digest(params)} if digest else dict(params)
