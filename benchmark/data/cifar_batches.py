"""CIFAR-10's python batch files, read without running anything they contain.

The published ``cifar-10-batches-py`` folder (https://www.cs.toronto.edu/~kriz/cifar.html) holds
``data_batch_1`` .. ``data_batch_5``, ``test_batch`` and ``batches.meta``: pickles (Python 2,
protocol 2) of dicts with ``data``, a uint8 array of shape (N, 3072) (each row a 32x32 image, the
red, green and blue planes one after another, rows of pixels in order), ``labels``, N class
numbers in [0, 10), and, in ``batches.meta``, ``label_names``.

Unpickling a crafted file runs any code it names, so these files are read by
:class:`BatchUnpickler`, which builds only what such a file holds: numbers, strings, bytes,
lists, tuples and dicts (pickle opcodes that need no import), and numpy arrays through the few
functions numpy pickles them with (:data:`SAFE_GLOBALS`). A pickle that asks for anything else (a
function, a class, a module) is refused before it is called, with the file named. What comes out
is then checked against the layout above. Keys may be ``str`` (how torchvision reads the published
files) or ``bytes`` (``b'data'``, as the CIFAR page documents them).
"""

from __future__ import annotations

import hashlib
import io
import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.errors import ConfigError

IMAGE_SHAPE = (3, 32, 32)
PIXELS = 3 * 32 * 32
N_CLASSES = 10
ENCODING = "latin1"
"""How Python 2 strings in the published files are read (as torchvision and numpy's docs do): an
array's raw bytes then round-trip exactly."""

_NUMPY_RECONSTRUCT = np.zeros(0).__reduce__()[0]  # numpy.core / numpy._core .multiarray._reconstruct
_NUMPY_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]  # numpy.core / numpy._core .numeric._frombuffer


class CifarFileError(ConfigError):
    """A file under ``dataset.root`` that is not a CIFAR-10 batch file; the message names it."""


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    """numpy's ``_reconstruct``, for plain ``ndarray`` only (a subclass would run its own code)."""
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"an array of type {subtype!r} is refused (only numpy.ndarray)")
    return _NUMPY_RECONSTRUCT(subtype, shape, dtype)


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """numpy's ``_frombuffer`` (protocol-5 pickles of arrays), for a bytes-like buffer only."""
    if not isinstance(buffer, (bytes, bytearray)) or not isinstance(dtype, np.dtype):
        raise pickle.UnpicklingError("an array from a buffer that is not bytes, or without a numpy dtype, is refused")
    return _NUMPY_FROMBUFFER(buffer, dtype, shape, order)


def _dtype(*args: Any) -> np.dtype:
    """``numpy.dtype(*args)`` for dtypes without Python objects (an object array could hold anything)."""
    dtype = np.dtype(*args)
    if dtype.hasobject:
        raise pickle.UnpicklingError(f"dtype {dtype} holds Python objects; refused")
    return dtype


def _latin1_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    """``_codecs.encode(text, 'latin1')``: how protocol-2 pickles written by Python 3 spell bytes."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r} is refused (only latin1)")
    return text.encode("latin1")


SAFE_GLOBALS: Mapping[tuple[str, str], Callable[..., Any] | type] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("_codecs", "encode"): _latin1_encode,
}
"""The only names a CIFAR-10 pickle may import, each mapped to what it gets instead: numpy's
array reconstruction (numpy 1 and 2 spell its modules differently), restricted to plain arrays of
non-object dtypes, and latin-1 encoding. Everything else a pickle builds needs no import."""


class BatchUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` knows :data:`SAFE_GLOBALS` and refuses every other name
    (persistent ids and extension codes, which also import, are refused by the base class or pass
    through ``find_class``)."""

    def find_class(self, module: str, name: str) -> Any:
        found = SAFE_GLOBALS.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"it asks for {module}.{name}, which is refused")
        return found


def read_pickle(path: Path) -> Any:
    """The object pickled in ``path``, unpickled by :class:`BatchUnpickler`; a refused or broken
    pickle raises :class:`CifarFileError` naming the file."""
    data = Path(path).read_bytes()
    try:
        return BatchUnpickler(io.BytesIO(data), encoding=ENCODING).load()
    except Exception as exc:  # any malformed pickle: the file is not a batch file, whatever broke
        raise CifarFileError(
            f"{path} is not a CIFAR-10 batch file: {exc}. Only numbers, strings, lists, dicts and numpy "
            "arrays are read from CIFAR-10 files (anything else could run code when unpickled). Replace it "
            "with the published file (dataset.download=true fetches them)."
        ) from None


def _field(entry: Mapping[Any, Any], key: str) -> Any:
    """``entry[key]`` or ``entry[key.encode()]``."""
    for k in (key, key.encode()):
        if k in entry:
            return entry[k]
    raise KeyError(key)


@dataclass(frozen=True)
class Batch:
    """One batch file's images, uint8 of shape (N, 3, 32, 32), and labels, int64 of shape (N,)."""

    images: np.ndarray
    labels: np.ndarray


def read_batch(path: Path) -> Batch:
    """The images and labels of one batch file (``data_batch_<i>`` or ``test_batch``), checked
    against the published layout; anything else raises :class:`CifarFileError` naming the file."""
    entry = read_pickle(path)

    def refuse(what: str) -> CifarFileError:
        return CifarFileError(
            f"{path} is not a CIFAR-10 batch file: {what}. A batch is a dict with 'data', a uint8 array of "
            f"shape (N, {PIXELS}), and 'labels', N integers in [0, {N_CLASSES}); replace it with the published file."
        )

    if not isinstance(entry, dict):
        raise refuse(f"it holds a {type(entry).__name__}, not a dict")
    try:
        data, labels = _field(entry, "data"), _field(entry, "labels")
    except KeyError as missing:
        raise refuse(f"it has no {missing.args[0]!r} (keys: {sorted(map(str, entry))})") from None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS:
        shown = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise refuse(f"its 'data' is a {shown}")
    if not isinstance(labels, (list, tuple, np.ndarray)) or len(labels) != len(data):
        raise refuse(f"it has {len(data)} images but {len(labels) if hasattr(labels, '__len__') else 'no'} labels")
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in labels):
        raise refuse("its 'labels' are not all integers")
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(y) and not (y.min() >= 0 and y.max() < N_CLASSES):
        raise refuse(f"its labels range over [{y.min()}, {y.max()}]")
    return Batch(data.reshape(-1, *IMAGE_SHAPE), y)


def read_label_names(path: Path) -> list[str]:
    """The ten class names of ``batches.meta``; anything else raises :class:`CifarFileError`."""
    entry = read_pickle(path)
    try:
        names = _field(entry, "label_names") if isinstance(entry, dict) else None
    except KeyError:
        names = None
    if not isinstance(names, list) or len(names) != N_CLASSES or not all(isinstance(n, (str, bytes)) for n in names):
        raise CifarFileError(
            f"{path} is not CIFAR-10's batches.meta: it needs 'label_names', a list of {N_CLASSES} names. "
            "Replace it with the published file."
        )
    return [n.decode("latin1") if isinstance(n, bytes) else n for n in names]


def file_md5(path: Path) -> str:
    """MD5 hex digest of ``path``'s bytes."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def md5_mismatches(files: Sequence[tuple[Path, str]]) -> list[tuple[Path, str, str]]:
    """``(path, expected, actual)`` of each ``(path, expected MD5)`` whose file has another sum."""
    return [(p, md5, actual) for p, md5 in files if (actual := file_md5(p)) != md5]


def read_batches(paths: Sequence[Path]) -> Batch:
    """The batch files ``paths`` concatenated in order."""
    batches = [read_batch(p) for p in paths]
    return Batch(np.concatenate([b.images for b in batches]), np.concatenate([b.labels for b in batches]))
