"""Content-addressed artifact store.

An artifact is the output of one stage for one input. Its key is the SHA-256 of the stage name,
the stage's code version, its configuration and the keys of its inputs, so a change in any of
them gives a new key and nothing stale is ever reused. Artifacts are ``.npz`` files holding a
JSON metadata block, the record's arrays and a digest over both; they are written to a temporary
file and renamed into place (atomic on POSIX), loaded with ``allow_pickle=False``, and verified
against their digest on every load: a corrupt entry is reported, removed and recomputed.

Several processes may share one store (Hydra multirun, a cluster): a per-key lock makes sure one
artifact is computed once, and ``map`` lets concurrent processes split a list of work between them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

log = logging.getLogger(__name__)

META = "__meta__"
DIGEST = "__digest__"
RECORD_KIND = "__record__"


class Record(Protocol):
    kind: str

    def to_payload(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]: ...

    @classmethod
    def from_payload(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any: ...


R = TypeVar("R", bound=Record)


class CorruptArtifactError(RuntimeError):
    """A store entry that cannot be read or fails its digest."""


def canonical_json(obj: Any) -> str:
    """Deterministic JSON (sorted keys, no whitespace) of plain data."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True, default=str)


def artifact_key(stage: str, version: str, config: Mapping[str, Any], inputs: Sequence[str]) -> str:
    """Key of one artifact: SHA-256 over stage, stage version, config and input keys."""
    blob = canonical_json({"stage": stage, "version": version, "config": config, "inputs": list(inputs)})
    return hashlib.sha256(blob.encode()).hexdigest()


def _digest(meta_bytes: bytes, arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256(meta_bytes)
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def encode(record: Record) -> bytes:
    """Serialise a record to ``.npz`` bytes (no pickled objects)."""
    meta, arrays = record.to_payload()
    if RECORD_KIND in meta:
        raise ValueError(f"{record.kind} payload uses the reserved key {RECORD_KIND!r}")
    meta_bytes = canonical_json({RECORD_KIND: record.kind, **meta}).encode()
    for name, a in arrays.items():
        if a.dtype == object:
            raise TypeError(f"array {name!r} of a {record.kind} record has dtype object; not storable")
    buf = io.BytesIO()
    np.savez(
        buf,
        **{META: np.frombuffer(meta_bytes, dtype=np.uint8)},
        **{DIGEST: np.frombuffer(_digest(meta_bytes, arrays).encode(), dtype=np.uint8)},
        **arrays,
    )
    return buf.getvalue()


def decode(data: bytes, cls: type[R]) -> R:
    """Inverse of :func:`encode`; raises :class:`CorruptArtifactError` on any damage."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            contents = {name: z[name] for name in z.files}
        meta_bytes = contents.pop(META).tobytes()
        digest = contents.pop(DIGEST).tobytes().decode()
    except Exception as exc:  # zip/CRC/format errors: all mean "damaged"
        raise CorruptArtifactError(f"unreadable artifact ({type(exc).__name__}: {exc})") from exc
    if _digest(meta_bytes, contents) != digest:
        raise CorruptArtifactError("artifact digest mismatch")
    meta = json.loads(meta_bytes)
    kind = meta.pop(RECORD_KIND, None)
    if kind != cls.kind:
        raise CorruptArtifactError(f"artifact holds a {kind!r} record, expected {cls.kind!r}")
    return cls.from_payload(meta, contents)


@dataclass
class StageStats:
    loaded: int = 0
    computed: int = 0


class ArtifactStore:
    """Artifacts under ``root/<stage>/<key[:2]>/<key>.npz``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.stats: dict[str, StageStats] = {}

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key[:2] / f"{key}.npz"

    def exists(self, stage: str, key: str) -> bool:
        return self.path(stage, key).is_file()

    def load(self, stage: str, key: str, cls: type[R]) -> R | None:
        """The stored record, or None if absent. A corrupt entry is logged, removed, None returned."""
        path = self.path(stage, key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return decode(data, cls)
        except CorruptArtifactError as exc:
            log.warning("store: %s artifact %s is corrupt (%s); removing it and recomputing", stage, path, exc)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return None

    def save(self, stage: str, key: str, record: Record) -> Path:
        """Write atomically: temp file in the same folder, fsync, rename."""
        path = self.path(stage, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = encode(record)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{key[:8]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return path

    def discard(self, stage: str, key: str) -> None:
        """Remove an artifact if present."""
        with contextlib.suppress(FileNotFoundError):
            self.path(stage, key).unlink()

    @contextlib.contextmanager
    def _lock(self, stage: str, key: str, blocking: bool = True) -> Iterator[bool]:
        lock_path = self.root / ".locks" / stage / f"{key}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _count(self, stage: str, computed: bool) -> None:
        stats = self.stats.setdefault(stage, StageStats())
        if computed:
            stats.computed += 1
        else:
            stats.loaded += 1

    def get_or_compute(self, stage: str, key: str, cls: type[R], compute: Callable[[], R]) -> R:
        """Load the artifact, or compute and store it (at most one process computes a key)."""
        record = self.load(stage, key, cls)
        if record is not None:
            self._count(stage, computed=False)
            return record
        with self._lock(stage, key):
            record = self.load(stage, key, cls)  # another process may have finished it
            if record is not None:
                self._count(stage, computed=False)
                return record
            record = compute()
            self.save(stage, key, record)
            self._count(stage, computed=True)
            return record

    def map(
        self,
        stage: str,
        keys: Sequence[str],
        cls: type[R],
        compute: Callable[[int], R],
        progress: Callable[[], None] | None = None,
    ) -> list[R]:
        """``get_or_compute`` over many keys; ``compute(i)`` builds item i.

        A first pass skips keys that another process is computing right now (so concurrent
        processes split the work); a second pass waits for those and loads them.
        """
        out: list[R | None] = [None] * len(keys)
        busy: list[int] = []
        for i, key in enumerate(keys):
            record = self.load(stage, key, cls)
            if record is None:
                with self._lock(stage, key, blocking=False) as got:
                    if not got:
                        busy.append(i)
                        continue
                    record = self.load(stage, key, cls)
                    if record is None:
                        record = compute(i)
                        self.save(stage, key, record)
                        self._count(stage, computed=True)
                    else:
                        self._count(stage, computed=False)
            else:
                self._count(stage, computed=False)
            out[i] = record
            if progress:
                progress()
        for i in busy:
            out[i] = self.get_or_compute(stage, keys[i], cls, lambda i=i: compute(i))
            if progress:
                progress()
        return [r for r in out if r is not None]

    def summary(self) -> str:
        return "; ".join(
            f"{stage}: {s.loaded} loaded from store, {s.computed} computed" for stage, s in self.stats.items()
        )
