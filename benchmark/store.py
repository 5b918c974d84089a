"""Content-addressed artifact store.

An artifact is the output of one stage for one input. Its key is the SHA-256 of the stage name,
the stage's code version, its configuration and the keys of its inputs, so a change in any of
them gives a new key and nothing stale is ever reused. Artifacts are ``.npz`` files holding a
JSON metadata block, the record's arrays and a digest over both; they are written to a temporary
file and renamed into place (atomic on POSIX), loaded with ``allow_pickle=False``, and verified
on every load: a damaged entry is reported, removed and recomputed.

Every entry says what it is: its metadata, covered by the digest, names the record kind and the
stage and key it was written for. A load is verified against what was asked for and against the
record class: the digest; the kind, stage and key (a valid entry at the wrong key, swapped or
copied between keys or restored from another store, is a :class:`MisplacedArtifactError`); and
the decoding itself, which must raise nothing, give the field types the record's dataclass
declares, and encode back to the stored metadata and arrays (so a missing field that would have
defaulted, or a value of the wrong type that would have been converted, is caught). Any failure
is damage: a warning naming the stage, the file and what is wrong, then the entry is removed and
recomputed. Nothing damaged loads, and no damage surfaces as a raw traceback.

Entries written before entries carried their identity (no ``__identity__`` block) cannot be
checked against their key, and their key does not follow from the record, so there is nothing
safe to upgrade them against: they are treated as unverifiable damage, removed and recomputed,
with one warning per stage (and ``map`` call) that counts them. A store filled by older code is
therefore recomputed once, then verified for good.

The store's own layout is checked too: a folder in an artifact's place (removed if empty), or a
file where the store needs a folder (``.locks``, a stage folder), stops the run with a
:class:`StoreLayoutError` naming the path and the fix. Temporary files are named
``.<key[:8]>.<host>.<pid>.<random>.tmp`` after their writer; the first time a store object uses a
stage it removes the ones left by writers that died (this host, pid gone, untouched for
:data:`ORPHAN_GRACE_S`) or untouched for :data:`ORPHAN_AGE_S`, never one a live writer holds.

Several processes may share one store (Hydra multirun, a cluster): a per-key lock makes sure one
artifact is computed once, and ``map`` lets concurrent processes split a list of work between them.

Beside each artifact the store keeps how long it took to compute, in a sidecar
``<key>.time.json`` (:data:`TIME_SUFFIX`; fields in :meth:`ArtifactStore.save`), written
atomically before the artifact and read back whenever the artifact is served, so a rerun from the
store reports the compute time as first measured. The sidecar is outside the artifact, its key and
its digest: an artifact without one (stored before sidecars existed, or its sidecar lost) loads as
before and counts as "not recorded"; a sidecar that is unreadable or names another stage or key
counts the same way and is never damage.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import fcntl
import functools
import hashlib
import io
import json
import logging
import math
import os
import re
import socket
import tempfile
import time
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from benchmark.errors import ConfigError

log = logging.getLogger(__name__)

META = "__meta__"
DIGEST = "__digest__"
RECORD_KIND = "__record__"
IDENTITY = "__identity__"
RESERVED = (RECORD_KIND, IDENTITY)

ORPHAN_GRACE_S = 60.0
"""A temporary file of a dead writer on this host is removed once untouched this long (seconds)."""
ORPHAN_AGE_S = 24 * 3600.0
"""Any temporary file untouched this long (seconds) is removed (writers on other hosts, old names)."""
TIME_SUFFIX = ".time.json"
"""The sidecar of an artifact ``<key>.npz``: ``<key>.time.json``, how long it took to compute."""


class Record(Protocol):
    kind: str

    def to_payload(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]: ...

    @classmethod
    def from_payload(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any: ...


R = TypeVar("R", bound=Record)


class CorruptArtifactError(RuntimeError):
    """A store entry that cannot be read, fails its digest, or does not decode to its record."""


class MisplacedArtifactError(CorruptArtifactError):
    """A whole entry written for another stage or key than the one it was loaded as."""


class UnverifiableArtifactError(CorruptArtifactError):
    """An entry without an identity block (written by an older store), so not checkable against its key."""


class StoreLayoutError(ConfigError):
    """The store's folders are not as the store left them; the message names the path and the fix."""


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


def encode(record: Record, stage: str | None = None, key: str | None = None) -> bytes:
    """Serialise a record to ``.npz`` bytes (no pickled objects); with ``stage`` and ``key``, the
    entry carries that identity (the store always passes them)."""
    meta, arrays = record.to_payload()
    return _encode_payload(record, meta, arrays, stage, key)


def _encode_payload(
    record: Record, meta: dict[str, Any], arrays: dict[str, np.ndarray], stage: str | None, key: str | None
) -> bytes:
    """:func:`encode` of the payload ``record.to_payload()`` gave."""
    for reserved in RESERVED:
        if reserved in meta:
            raise ValueError(f"{record.kind} payload uses the reserved key {reserved!r}")
    header: dict[str, Any] = {RECORD_KIND: record.kind}
    if stage is not None or key is not None:
        header[IDENTITY] = {"stage": stage, "key": key}
    meta_bytes = canonical_json({**header, **meta}).encode()
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


def decode(data: bytes, cls: type[R], stage: str | None = None, key: str | None = None) -> R:
    """Inverse of :func:`encode`; raises :class:`CorruptArtifactError` on any damage.

    With ``stage`` and ``key``, the entry must carry that identity (:class:`MisplacedArtifactError`
    if it names another, :class:`UnverifiableArtifactError` if it names none).
    """
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            contents = {name: z[name] for name in z.files}
        meta_bytes = contents.pop(META).tobytes()
        digest = contents.pop(DIGEST).tobytes().decode()
    except Exception as exc:  # zip/CRC/format errors: all mean "damaged"
        raise CorruptArtifactError(f"unreadable artifact ({type(exc).__name__}: {exc})") from exc
    if _digest(meta_bytes, contents) != digest:
        raise CorruptArtifactError("artifact digest mismatch")
    try:
        meta = json.loads(meta_bytes)
    except Exception as exc:
        raise CorruptArtifactError(f"unreadable metadata ({type(exc).__name__}: {exc})") from exc
    if not isinstance(meta, dict):
        raise CorruptArtifactError(f"metadata is a JSON {type(meta).__name__}, not an object")
    kind = meta.pop(RECORD_KIND, None)
    identity = meta.pop(IDENTITY, None)
    if kind != cls.kind:
        raise CorruptArtifactError(f"artifact holds a {kind!r} record, expected {cls.kind!r}")
    if stage is not None or key is not None:
        _check_identity(identity, stage, key)
    try:
        record = cls.from_payload(copy.deepcopy(meta), dict(contents))
        problem = _type_problem(record, cls, kind) or _round_trip_problem(record, meta, contents)
    except Exception as exc:  # a missing field, a wrong type, ...: the record does not decode
        raise CorruptArtifactError(f"the {kind} record does not decode ({type(exc).__name__}: {exc})") from exc
    if problem:
        raise CorruptArtifactError(f"the {kind} record does not decode faithfully: {problem}")
    return record


def _check_identity(identity: Any, stage: str | None, key: str | None) -> None:
    if identity is None:
        raise UnverifiableArtifactError(
            "it carries no identity (written by an older version of the store), so it cannot be checked against its key"
        )
    claimed = (identity.get("stage"), identity.get("key")) if isinstance(identity, dict) else (None, None)
    if claimed != (stage, key):
        raise MisplacedArtifactError(
            f"it claims to be {claimed[0]}/{claimed[1]} but {stage}/{key} was asked for (moved or copied "
            "from another key, or restored from another store)"
        )


@functools.cache
def _field_types(cls: type) -> tuple[tuple[str, Any], ...]:
    """``(field name, resolved annotation)`` of a dataclass record; empty for anything else."""
    if not dataclasses.is_dataclass(cls):
        return ()
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # an annotation that does not resolve is simply not checked
        hints = {}
    return tuple((f.name, hints.get(f.name, Any)) for f in dataclasses.fields(cls))


def _type_problem(value: Any, tp: Any, where: str) -> str | None:
    """Why ``value`` is not of the annotated type ``tp``, or None. Annotation forms not handled
    here (``Literal``, type variables, ...) are accepted unchecked."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return None
    if origin in (typing.Union, types.UnionType):
        return None if any(_type_problem(value, a, where) is None for a in args) else _mismatch(value, tp, where)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, tp):
            return _mismatch(value, tp, where)
        for name, ftp in _field_types(tp):
            problem = _type_problem(getattr(value, name), ftp, f"{where}.{name}")
            if problem:
                return problem
        return None
    if origin is dict:
        if not isinstance(value, dict):
            return _mismatch(value, tp, where)
        kt, vt = args or (Any, Any)
        for k, v in value.items():
            problem = _type_problem(k, kt, f"{where} key {k!r}") or _type_problem(v, vt, f"{where}[{k!r}]")
            if problem:
                return problem
        return None
    if origin in (tuple, list):
        if not isinstance(value, (tuple, list)):
            return _mismatch(value, tp, where)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                return f"{where} has {len(value)} items, expected {len(args)}"
            items = list(zip(args, value, strict=True))
        else:
            items = [(args[0] if args else Any, v) for v in value]
        for i, (itp, v) in enumerate(items):
            problem = _type_problem(v, itp, f"{where}[{i}]")
            if problem:
                return problem
        return None
    checks: dict[Any, Callable[[Any], bool]] = {
        bool: lambda v: isinstance(v, (bool, np.bool_)),
        int: lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool),
        float: lambda v: isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
        np.ndarray: lambda v: isinstance(v, np.ndarray),
    }
    check = checks.get(tp)
    return None if check is None or check(value) else _mismatch(value, tp, where)


def _mismatch(value: Any, tp: Any, where: str) -> str:
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{where} is {shown} ({type(value).__name__}), expected {getattr(tp, '__name__', tp)}"


def _round_trip_problem(record: Record, meta: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> str | None:
    """What differs when the decoded record is encoded again (None: nothing), so a field the record
    did not read, one it defaulted, or one it converted from another type is caught."""
    meta2, arrays2 = record.to_payload()
    problem = _json_difference(meta, json.loads(canonical_json(meta2)), "metadata")
    if problem:
        return problem
    if set(arrays2) != set(arrays):
        extra, missing = sorted(set(arrays) - set(arrays2)), sorted(set(arrays2) - set(arrays))
        return f"arrays {extra} are not part of the record" if extra else f"arrays {missing} are missing"
    for name, a in arrays2.items():
        b = arrays[name]
        if a is b:
            continue
        a = np.asarray(a)
        nan_ok = a.dtype.kind in "fc" and b.dtype.kind in "fc"
        if a.dtype != b.dtype or a.shape != b.shape or not np.array_equal(a, b, equal_nan=nan_ok):
            return f"array {name!r} ({b.dtype}, shape {b.shape}) reads back as {a.dtype}, shape {a.shape}"
    return None


def _json_difference(stored: Any, again: Any, where: str) -> str | None:
    if isinstance(stored, dict) and isinstance(again, dict):
        for k in sorted(set(stored) | set(again), key=str):
            if k not in stored:
                return f"{where}.{k} is missing"
            if k not in again:
                return f"{where}.{k} is not part of the record"
            problem = _json_difference(stored[k], again[k], f"{where}.{k}")
            if problem:
                return problem
        return None
    if isinstance(stored, list) and isinstance(again, list):
        if len(stored) != len(again):
            return f"{where} has {len(stored)} items, the record {len(again)}"
        for i, (s, a) in enumerate(zip(stored, again, strict=True)):
            problem = _json_difference(s, a, f"{where}[{i}]")
            if problem:
                return problem
        return None
    if _same_scalar(stored, again):
        return None
    return f"{where} is {stored!r} ({type(stored).__name__}), which the record reads as {again!r}"


def _same_scalar(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool) or not (isinstance(a, numbers) and isinstance(b, numbers)):
        return type(a) is type(b) and a == b
    return a == b or (a != a and b != b)  # 1 == 1.0 (JSON has one number type); NaN == NaN


def _host_tag() -> str:
    """This host and pid namespace, as a file-name part: writers with the same tag see each
    other's pids (two containers may share a host name but not their pids)."""
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:63] or "host"
    with contextlib.suppress(OSError):
        host += f"-{os.stat('/proc/self/ns/pid').st_ino}"
    return host


_TEMP_NAME = re.compile(r"^\.[^.]*\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[^.]+\.tmp$")


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this host (True when that cannot be told)."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, someone else's
        return True
    return True


RECORD_SAMPLE = 1000
"""At most this many sidecars of one stage are read by :meth:`ArtifactStore.compute_records`."""


def _recorded_seconds(data: Any, stage: str, key: str) -> float | None:
    """The seconds a sidecar's JSON ``data`` records for ``stage``/``key`` (None: it records none
    for them: not an object, another stage or key, no finite non-negative ``seconds``)."""
    if not isinstance(data, dict) or data.get("stage") != stage or data.get("key") != key:
        return None
    seconds = data.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return None
    return float(seconds) if seconds >= 0 else None


@dataclass(frozen=True)
class ComputeTime:
    """The compute time of a set of artifacts as first measured: ``seconds``, the sum over those
    with a recorded time; ``artifacts``, how many there are; ``unrecorded``, how many of them have
    no recorded time (``seconds`` leaves them out)."""

    seconds: float
    artifacts: int
    unrecorded: int

    @classmethod
    def of(cls, recorded: Mapping[str, float | None]) -> ComputeTime:
        """Of ``{key: recorded seconds, or None where not recorded}``."""
        values = list(recorded.values())
        return cls(math.fsum(v for v in values if v is not None), len(values), sum(v is None for v in values))


@dataclass(frozen=True)
class ComputeRecord:
    """One artifact's sidecar: its ``key``, its compute ``seconds`` as first measured (the wall time
    of its group divided by ``group``, the number of artifacts computed together) and ``size``, the
    number of values in its record's largest array (for a landscape, its grid nodes; 0: unknown)."""

    key: str
    seconds: float
    group: int
    size: int


@dataclass
class StageStats:
    """What one store object served of a stage: artifacts ``loaded`` and ``computed``, and
    ``seconds``, each served key's compute time as first measured (None: not recorded)."""

    loaded: int = 0
    computed: int = 0
    seconds: dict[str, float | None] = field(default_factory=dict)


class ArtifactStore:
    """Artifacts under ``root/<stage>/<key[:2]>/<key>.npz``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.stats: dict[str, StageStats] = {}
        self._host = _host_tag()
        self._swept: set[str] = set()

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key[:2] / f"{key}.npz"

    def time_path(self, stage: str, key: str) -> Path:
        """The sidecar of :meth:`path`: how long the artifact took to compute."""
        return self.root / stage / key[:2] / f"{key}{TIME_SUFFIX}"

    def exists(self, stage: str, key: str) -> bool:
        return self.path(stage, key).is_file()

    def recorded_seconds(self, stage: str, key: str) -> float | None:
        """The seconds the artifact took to compute, as its sidecar recorded them when it was
        computed; None when there is no readable sidecar for this stage and key."""
        try:
            data = json.loads(self.time_path(stage, key).read_bytes())
        except (OSError, ValueError):
            return None
        return _recorded_seconds(data, stage, key)

    def compute_records(self, stage: str, limit: int = RECORD_SAMPLE) -> list[ComputeRecord]:
        """Up to ``limit`` valid sidecars of stored artifacts of ``stage`` (in folder order, which
        follows no particular configuration): what a dry run estimates times from."""
        folder, out = self.root / stage, []
        try:
            with os.scandir(folder) as entries:
                subfolders = sorted(e.path for e in entries if e.is_dir(follow_symlinks=False))
        except OSError:
            return out
        for sub in subfolders:
            try:
                names = sorted(n for n in os.listdir(sub) if n.endswith(TIME_SUFFIX) and not n.startswith("."))
            except OSError:
                continue
            for name in names:
                key = name.removesuffix(TIME_SUFFIX)
                try:
                    data = json.loads((Path(sub) / name).read_bytes())
                except (OSError, ValueError):
                    continue
                seconds = _recorded_seconds(data, stage, key)
                if seconds is None or not self.exists(stage, key):
                    continue
                group, size = data.get("group"), data.get("size")
                group = group if isinstance(group, int) and not isinstance(group, bool) and group > 0 else 1
                size = size if isinstance(size, int) and not isinstance(size, bool) else 0
                out.append(ComputeRecord(key, seconds, group, max(size, 0)))
                if len(out) >= limit:
                    return out
        return out

    def load(self, stage: str, key: str, cls: type[R]) -> R | None:
        """The stored record, or None if absent. A damaged entry is logged, removed, None returned."""
        return self._load(stage, key, cls, None)

    def _load(self, stage: str, key: str, cls: type[R], unverifiable: list[Path] | None) -> R | None:
        """:meth:`load`; an entry without identity is appended to ``unverifiable`` (the caller
        warns once for all of them) or, when that is None, warned about here."""
        self._sweep(stage)
        path = self.path(stage, key)
        try:
            with open(path, "rb") as f:
                seen = os.fstat(f.fileno())
                data = f.read()
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            return self._folder_in_place(stage, key, path)
        except NotADirectoryError:
            raise self._not_a_folder(path.parent, f"the {stage} artifacts") from None
        try:
            return decode(data, cls, stage, key)
        except UnverifiableArtifactError:
            self._remove(path, seen)
            if unverifiable is None:
                self._warn_unverifiable(stage, [path])
            else:
                unverifiable.append(path)
        except MisplacedArtifactError as exc:
            log.warning(
                "store: %s artifact %s is not what was asked for: %s; removing it and recomputing", stage, path, exc
            )
            self._remove(path, seen)
        except CorruptArtifactError as exc:
            log.warning("store: %s artifact %s is corrupt (%s); removing it and recomputing", stage, path, exc)
            self._remove(path, seen)
        return None

    @staticmethod
    def _remove(path: Path, seen: os.stat_result) -> None:
        """Remove the damaged file that was read, not one another process renamed into its place since."""
        with contextlib.suppress(FileNotFoundError):
            now = os.stat(path)
            if (now.st_dev, now.st_ino) == (seen.st_dev, seen.st_ino):
                os.unlink(path)

    @staticmethod
    def _warn_unverifiable(stage: str, paths: list[Path]) -> None:
        if paths:
            log.warning(
                "store: %d %s artifact(s) in %s carry no identity (written by an older version of the store), "
                "so they cannot be checked against their keys; removed them and recomputing (once: new entries "
                "carry their identity)",
                len(paths),
                stage,
                paths[0].parent.parent,
            )

    def _folder_in_place(self, stage: str, key: str, path: Path) -> None:
        try:
            path.rmdir()
        except FileNotFoundError:
            return None
        except OSError:
            raise StoreLayoutError(
                f"store: {path} is a folder, but the {stage} artifact {key} belongs there as a file; move the "
                f"folder away (or delete it: rm -r '{path}') and rerun."
            ) from None
        log.warning("store: %s was an empty folder where the %s artifact %s belongs; removed it", path, stage, key)
        return None

    def _not_a_folder(self, folder: Path, what: str) -> StoreLayoutError:
        """The error for a file standing where the store needs ``folder`` (or one of its parents)."""
        bad = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
        return StoreLayoutError(
            f"store: {bad} is a file, but the store needs a folder there (for {what}); move the file away "
            f"(or delete it: rm '{bad}') and rerun."
        )

    def _mkdir(self, folder: Path, what: str) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise self._not_a_folder(folder, what) from None

    def _sweep(self, stage: str) -> None:
        """Once per stage and store object: remove the temporary files that writers which died left."""
        if stage in self._swept:
            return
        self._swept.add(stage)
        folder = self.root / stage
        try:
            with os.scandir(folder) as entries:
                subfolders = [e.path for e in entries if e.is_dir(follow_symlinks=False)]
        except OSError:  # no such stage yet (or not a folder: reported when it is used)
            return
        removed, now = 0, time.time()
        for sub in subfolders:
            with contextlib.suppress(OSError), os.scandir(sub) as entries:
                for e in entries:
                    if not (e.name.startswith(".") and e.name.endswith(".tmp")) or not e.is_file(follow_symlinks=False):
                        continue
                    try:
                        idle = now - e.stat(follow_symlinks=False).st_mtime
                    except FileNotFoundError:  # renamed into place meanwhile
                        continue
                    if self._orphan(e.name, idle):
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(e.path)
                            removed += 1
        if removed:
            log.info("store: removed %d temporary file(s) that killed writers left under %s", removed, folder)

    def _orphan(self, name: str, idle: float) -> bool:
        """Whether a temporary file untouched for ``idle`` seconds has no live writer."""
        if idle > ORPHAN_AGE_S:
            return True
        m = _TEMP_NAME.match(name)
        return bool(m) and m["host"] == self._host and idle > ORPHAN_GRACE_S and not _alive(int(m["pid"]))

    def save(self, stage: str, key: str, record: Record, seconds: float | None = None, group: int = 1) -> Path:
        """Write atomically: temp file in the same folder, fsync, rename.

        With ``seconds`` (the wall time computing the record took; for ``group`` artifacts computed
        together, the group's time divided by ``group``), the sidecar :meth:`time_path` is written
        first, the same way: JSON ``{"stage", "key", "seconds", "group", "size": the number of
        values in the record's largest array, "computed_at": UTC time}``. Without ``seconds`` any sidecar
        of the key is removed, so a time is never attributed to an artifact it was not measured for.
        """
        self._sweep(stage)
        path = self.path(stage, key)
        if path.is_dir():
            self._folder_in_place(stage, key, path)
        self._mkdir(path.parent, f"the {stage} artifacts")
        meta, arrays = record.to_payload()
        data = _encode_payload(record, meta, arrays, stage, key)
        if seconds is None:
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                os.unlink(self.time_path(stage, key))
        else:
            sidecar = {
                "stage": stage,
                "key": key,
                "seconds": float(seconds),
                "group": int(group),
                "size": int(max((np.asarray(a).size for a in arrays.values()), default=0)),
                "computed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            sidecar_path = self.time_path(stage, key)
            try:
                self._write(sidecar_path, key, json.dumps(sidecar, sort_keys=True).encode())
            except IsADirectoryError:
                raise StoreLayoutError(
                    f"store: {sidecar_path} is a folder, but the compute time of the {stage} artifact {key} "
                    f"belongs there as a file; move the folder away (or delete it: rm -r '{sidecar_path}') and rerun."
                ) from None
        return self._write(path, key, data)

    def _write(self, path: Path, key: str, data: bytes) -> Path:
        """``data`` into ``path`` atomically, through a temporary file named after its writer."""
        prefix = f".{key[:8]}.{self._host}.{os.getpid()}."
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
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
        """Remove an artifact and its sidecar if present."""
        for path in (self.path(stage, key), self.time_path(stage, key)):
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                path.unlink()

    @contextlib.contextmanager
    def _lock(self, stage: str, key: str, blocking: bool = True) -> Iterator[bool]:
        lock_path = self.root / ".locks" / stage / f"{key}.lock"
        self._mkdir(lock_path.parent, "the lock files")
        try:
            fh = open(lock_path, "a")  # noqa: SIM115 - closed below, after the yield
        except IsADirectoryError:
            raise StoreLayoutError(
                f"store: {lock_path} is a folder, but it must be a lock file; move it away (or delete it: "
                f"rm -r '{lock_path}') and rerun."
            ) from None
        with fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _count(self, stage: str, key: str, computed_seconds: float | None = None) -> None:
        """One artifact served: computed now, in ``computed_seconds``, or (None) loaded, with the
        compute time its sidecar recorded."""
        stats = self.stats.setdefault(stage, StageStats())
        if computed_seconds is None:
            stats.loaded += 1
            stats.seconds[key] = self.recorded_seconds(stage, key)
        else:
            stats.computed += 1
            stats.seconds[key] = computed_seconds

    def _computed(self, stage: str) -> int:
        return self.stats[stage].computed if stage in self.stats else 0

    def get_or_compute(self, stage: str, key: str, cls: type[R], compute: Callable[[], R]) -> R:
        """Load the artifact, or compute and store it (at most one process computes a key)."""
        unverifiable: list[Path] = []
        try:
            return self._get_or_compute(stage, key, cls, compute, unverifiable)
        finally:
            self._warn_unverifiable(stage, unverifiable)

    def _get_or_compute(
        self, stage: str, key: str, cls: type[R], compute: Callable[[], R], unverifiable: list[Path]
    ) -> R:
        record = self._load(stage, key, cls, unverifiable)
        if record is not None:
            self._count(stage, key)
            return record
        with self._lock(stage, key):
            record = self._load(stage, key, cls, unverifiable)  # another process may have finished it
            if record is not None:
                self._count(stage, key)
                return record
            t0 = time.perf_counter()
            record = compute()
            seconds = time.perf_counter() - t0
            self.save(stage, key, record, seconds)
            self._count(stage, key, seconds)
            return record

    def map(
        self,
        stage: str,
        keys: Sequence[str],
        cls: type[R],
        compute: Callable[[int], R],
        progress: Callable[..., None] | None = None,
    ) -> list[R]:
        """``get_or_compute`` over many keys; ``compute(i)`` builds item i; ``progress(n, loaded=...)``
        after every n items served (``loaded``: they came from the store, computed elsewhere).

        A first pass skips keys that another process is computing right now (so concurrent
        processes split the work), reported as ``progress(n, busy=True)``; a second pass waits for
        those and loads them (``progress(n, loaded=..., waited=True)``). Entries without identity
        (an older store) are warned about once, with their count, at the end.
        """
        singles = [[i] for i in range(len(keys))]
        return self.map_groups(stage, keys, cls, singles, lambda group: [compute(group[0])], progress)

    def map_groups(
        self,
        stage: str,
        keys: Sequence[str],
        cls: type[R],
        groups: Sequence[Sequence[int]],
        compute: Callable[[list[int]], list[R]],
        progress: Callable[..., None] | None = None,
    ) -> list[R]:
        """:meth:`map` for items computed a group at a time (models trained as one batch):
        ``compute(group)`` builds the records of every index of ``group``, in its order, together.
        ``groups`` partition ``range(len(keys))``. A group whose members are all stored is loaded;
        otherwise it is computed whole, under one lock per group (concurrent processes split the work
        by group and wait for each other's), and its missing members are saved. A stored member is
        kept as it is: the group's keys must name the group (its members' records depend on it), so
        that computing it again gives the same records. Each saved member records the group's wall
        time divided evenly over all its members (those kept included) as its compute time, so the
        members' times add up to the group's."""
        self._sweep(stage)
        unverifiable: list[Path] = []
        out: list[R | None] = [None] * len(keys)
        busy: list[list[int]] = []
        try:
            for group in map(list, groups):
                computed = self._computed(stage)
                if not self._group(stage, keys, cls, group, compute, out, unverifiable, blocking=False):
                    busy.append(group)
                    if progress:
                        progress(len(group), busy=True)
                    continue
                if progress:
                    progress(len(group), loaded=self._computed(stage) == computed)
            for group in busy:  # another process is computing these: wait for it, then load
                computed = self._computed(stage)  # (or compute here, if it stopped without storing them)
                self._group(stage, keys, cls, group, compute, out, unverifiable, blocking=True)
                if progress:
                    progress(len(group), loaded=self._computed(stage) == computed, waited=True)
        finally:
            self._warn_unverifiable(stage, unverifiable)
        return [r for r in out if r is not None]

    def _group(
        self,
        stage: str,
        keys: Sequence[str],
        cls: type[R],
        group: list[int],
        compute: Callable[[list[int]], list[R]],
        out: list[R | None],
        unverifiable: list[Path],
        blocking: bool,
    ) -> bool:
        """Load or compute one group of :meth:`map_groups` into ``out``; False when the group's lock
        is held elsewhere and ``blocking`` is False."""

        def load_all() -> bool:
            records = [self._load(stage, keys[i], cls, unverifiable) for i in group]
            for i, record in zip(group, records, strict=True):
                out[i] = record
            return all(r is not None for r in records)

        if load_all():
            for i in group:
                self._count(stage, keys[i])
            return True
        # one item: its own key's lock, which get_or_compute takes too
        joined = "\0".join(keys[i] for i in group)
        name = keys[group[0]] if len(group) == 1 else "group-" + hashlib.sha256(joined.encode()).hexdigest()
        with self._lock(stage, name, blocking=blocking) as got:
            if not got:
                return False
            if load_all():  # another process finished it meanwhile
                for i in group:
                    self._count(stage, keys[i])
                return True
            t0 = time.perf_counter()
            records = compute(group)
            share = (time.perf_counter() - t0) / len(group)
            for i, record in zip(group, records, strict=True):
                if out[i] is None:
                    self.save(stage, keys[i], record, share, len(group))
                    self._count(stage, keys[i], share)
                else:
                    self._count(stage, keys[i])
                out[i] = record if out[i] is None else out[i]
        return True

    def summary(self) -> str:
        return "; ".join(
            f"{stage}: {s.loaded} loaded from store, {s.computed} computed" for stage, s in self.stats.items()
        )
