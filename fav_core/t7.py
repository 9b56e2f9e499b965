"""Pure-Python reader for Torch7 binary serialization (``torch.save(path, obj)``, ``.t7`` files).

Never executes code: serialized Lua functions are refused, and only data types are materialised:

| Torch7 type | Python value |
|---|---|
| nil | ``None`` |
| number (double) | ``float`` (``int`` when used as a table key and integral) |
| string | ``str`` (UTF-8, undecodable bytes escaped) |
| boolean | ``bool`` |
| table | ``dict`` (Lua tables keep their keys; use :func:`lua_list` for 1..n arrays) |
| torch.*Tensor | ``numpy.ndarray`` (a copy, C-contiguous, native byte order) |
| torch.*Storage | 1-D ``numpy.ndarray`` |
| any other torch class (nn modules) | :class:`T7Object` (class name, version, field table) |
| function | refused with :class:`~fav_core.errors.ModelLoadError` |

Shared references (the same table, module or storage written twice) come back as the same Python object, cycles
included. Binary format: little-endian; every value starts with an int32 type code; tables and torch objects carry
an int32 reference index; ``long`` is 8 bytes (files written on Windows may use 4: ``long_size=4``).
Limits: a maximum file size, a maximum nesting depth, and every length is checked against the bytes left, so a
corrupt or hostile file fails with an error naming the file and the byte offset instead of allocating gigabytes.
"""
from __future__ import annotations

import logging
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fav_core.errors import ModelLoadError

log = logging.getLogger(__name__)

TYPE_NIL = 0
TYPE_NUMBER = 1
TYPE_STRING = 2
TYPE_TABLE = 3
TYPE_TORCH = 4
TYPE_BOOLEAN = 5
TYPE_FUNCTION = 6
TYPE_RECUR_FUNCTION = 8
LEGACY_TYPE_RECUR_FUNCTION = 7

DEFAULT_MAX_BYTES = 4 << 30
DEFAULT_MAX_DEPTH = 200

_ELEMENT_DTYPES: dict[str, str] = {
    "Float": "<f4",
    "Double": "<f8",
    "Half": "<f2",
    "Byte": "u1",
    "Char": "i1",
    "Short": "<i2",
    "Int": "<i4",
    "Long": "<i8",
    "Cuda": "<f4",
    "CudaDouble": "<f8",
    "CudaHalf": "<f2",
    "CudaByte": "u1",
    "CudaChar": "i1",
    "CudaShort": "<i2",
    "CudaInt": "<i4",
    "CudaLong": "<i8",
}


@dataclass(eq=False)
class T7Object:
    """A deserialized Torch7 class instance that is not a tensor or storage (e.g. an ``nn`` module).

    Attributes:
        class_name: the Torch class, e.g. ``"nn.SpatialConvolution"`` or ``"cudnn.SpatialConvolution"``.
        version: the class's serialization version (0 when the file has none).
        attrs: the object's fields, e.g. ``{"weight": ndarray, "nOutputPlane": 32.0, ...}``.
    """

    class_name: str
    version: int = 0
    attrs: dict[Any, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        """The field ``key`` or ``default`` when the object does not have it."""
        return self.attrs.get(key, default)

    def __repr__(self) -> str:
        return f"T7Object({self.class_name!r}, fields={sorted(str(k) for k in self.attrs)})"


def _tensor_kind(class_name: str, suffix: str) -> str | None:
    """``"torch.FloatTensor"`` -> ``"<f4"`` for suffix ``"Tensor"``; None when not a known tensor/storage class."""
    if not class_name.startswith("torch.") or not class_name.endswith(suffix):
        return None
    return _ELEMENT_DTYPES.get(class_name[len("torch.") : -len(suffix)])


class _Reader:
    """One pass over an in-memory .t7 file; holds the reference table of the objects read so far."""

    def __init__(self, data: bytes | memoryview, name: str, *, long_size: int, max_depth: int) -> None:
        self.data = memoryview(data)
        self.name = name
        self.pos = 0
        self.memo: dict[int, Any] = {}
        self.long_fmt = {8: "<q", 4: "<i"}[long_size]
        self.long_size = long_size
        self.max_depth = max_depth
        self.depth = 0

    def fail(self, problem: str) -> ModelLoadError:
        return ModelLoadError(self.name, f"{problem} (Torch7 file, byte {self.pos})")

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"truncated: needs {n} more bytes, {len(self.data) - self.pos} left")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def int32(self) -> int:
        return int(struct.unpack("<i", self.take(4))[0])

    def long(self) -> int:
        return int(struct.unpack(self.long_fmt, self.take(self.long_size))[0])

    def double(self) -> float:
        return float(struct.unpack("<d", self.take(8))[0])

    def string(self) -> str:
        n = self.int32()
        if n < 0 or n > len(self.data) - self.pos:
            raise self.fail(f"string length {n} exceeds the file")
        return bytes(self.take(n)).decode("utf-8", errors="backslashreplace")

    def read(self) -> Any:
        self.depth += 1
        if self.depth > self.max_depth:
            raise self.fail(f"nesting deeper than {self.max_depth} levels")
        try:
            return self._read_value()
        finally:
            self.depth -= 1

    def _read_value(self) -> Any:
        start = self.pos
        code = self.int32()
        if code == TYPE_NIL:
            return None
        if code == TYPE_NUMBER:
            return self.double()
        if code == TYPE_STRING:
            return self.string()
        if code == TYPE_BOOLEAN:
            return self.int32() == 1
        if code == TYPE_TABLE:
            return self._table()
        if code == TYPE_TORCH:
            return self._torch()
        if code in (TYPE_FUNCTION, TYPE_RECUR_FUNCTION, LEGACY_TYPE_RECUR_FUNCTION):
            self.pos = start
            raise self.fail("contains a serialized Lua function; refusing to load code")
        self.pos = start
        if start == 0:
            raise self.fail(f"not a binary Torch7 file (unknown type code {code} at the start)")
        raise self.fail(f"unknown type code {code}")

    def _table(self) -> dict[Any, Any]:
        index = self.int32()
        if index in self.memo:
            return self.memo[index]
        size = self.int32()
        if size < 0 or size * 8 > len(self.data) - self.pos:
            raise self.fail(f"table size {size} exceeds the file")
        table: dict[Any, Any] = {}
        self.memo[index] = table
        for _ in range(size):
            key = self.read()
            value = self.read()
            if isinstance(key, float) and key.is_integer():
                key = int(key)
            if isinstance(key, dict):
                raise self.fail("a table used as a table key is not supported")
            table[key] = value
        return table

    def _torch(self) -> Any:
        index = self.int32()
        if index in self.memo:
            return self.memo[index]
        version_str = self.string()
        if version_str.startswith("V "):
            try:
                version = int(version_str[2:])
            except ValueError as e:
                raise self.fail(f"bad class version {version_str!r}") from e
            class_name = self.string()
        else:
            version, class_name = 0, version_str
        storage_dtype = _tensor_kind(class_name, "Storage")
        if storage_dtype is not None:
            value: Any = self._storage(storage_dtype)
            self.memo[index] = value
            return value
        tensor_dtype = _tensor_kind(class_name, "Tensor")
        if tensor_dtype is not None:
            value = self._tensor(tensor_dtype, class_name)
            self.memo[index] = value
            return value
        if class_name.startswith("torch.") and ("Tensor" in class_name or "Storage" in class_name):
            raise self.fail(f"unsupported tensor class {class_name}")
        obj = T7Object(class_name, version)
        self.memo[index] = obj
        fields = self.read()
        if isinstance(fields, dict):
            obj.attrs = fields
        elif fields is not None:
            raise self.fail(f"{class_name} has no field table (custom serializer not supported)")
        return obj

    def _storage(self, dtype: str) -> np.ndarray:
        size = self.long()
        itemsize = np.dtype(dtype).itemsize
        if size < 0 or size * itemsize > len(self.data) - self.pos:
            raise self.fail(f"storage of {size} elements exceeds the file")
        raw = self.take(size * itemsize)
        return np.frombuffer(raw, dtype=dtype, count=size)

    def _tensor(self, dtype: str, class_name: str) -> np.ndarray:
        ndim = self.int32()
        if ndim < 0 or ndim > 16:
            raise self.fail(f"{class_name} with {ndim} dimensions")
        sizes = [self.long() for _ in range(ndim)]
        strides = [self.long() for _ in range(ndim)]
        offset = self.long() - 1
        storage = self.read()
        native = np.dtype(dtype).newbyteorder("=")
        if ndim == 0 or storage is None or any(s == 0 for s in sizes):
            return np.zeros([max(s, 0) for s in sizes] if ndim else [0], dtype=native)
        if not isinstance(storage, np.ndarray):
            raise self.fail(f"{class_name} has no storage")
        if any(s < 0 for s in sizes) or any(st < 0 for st in strides) or offset < 0:
            raise self.fail(f"{class_name} with negative size/stride/offset")
        last = offset + sum((s - 1) * st for s, st in zip(sizes, strides, strict=True))
        if last >= storage.size:
            raise self.fail(f"{class_name} of size {sizes} reaches past its storage of {storage.size} elements")
        view = np.lib.stride_tricks.as_strided(
            storage[offset:],
            shape=sizes,
            strides=[st * storage.itemsize for st in strides],
            writeable=False,
        )
        return np.ascontiguousarray(view, dtype=native).copy()


def read_t7_bytes(
    data: bytes,
    name: str = "<bytes>",
    *,
    long_size: int = 8,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Any:
    """Deserialize one Torch7 object from ``data``.

    Args:
        data: the file contents.
        name: used in error messages (normally the file path).
        long_size: bytes per Torch ``long`` (8 on Linux/macOS, 4 for files written on Windows).
        max_depth: maximum nesting depth of tables/objects.

    Returns:
        The top-level object (see the module docstring for the type mapping).

    Raises:
        ModelLoadError: the file is truncated, malformed, too deep, or contains a Lua function.
    """
    if long_size not in (4, 8):
        raise ModelLoadError(name, f"long_size must be 4 or 8, got {long_size}")
    reader = _Reader(data, name, long_size=long_size, max_depth=max_depth)
    obj = reader.read()
    if reader.pos != len(reader.data):
        log.warning("%s: %d trailing bytes after the first Torch7 object", name, len(reader.data) - reader.pos)
    return obj


def read_t7(
    path: str | Path,
    *,
    long_size: int | None = 8,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Any:
    """Read a Torch7 ``.t7`` file (binary format) without executing anything.

    Args:
        path: the file.
        long_size: bytes per Torch ``long`` (8, or 4 for files written on Windows); None = 8, and 4 when the
            file cannot be read with 8 but can with 4 (the error is the 8-byte reading's otherwise).
        max_bytes: refuse files larger than this (default 4 GiB).
        max_depth: maximum nesting depth.

    Returns:
        The deserialized top-level object.

    Raises:
        ModelLoadError: missing/unreadable/oversized file, or any format problem (the message names the file).
    """
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as e:
        raise ModelLoadError(p, f"cannot read Torch7 file: {e.strerror or e}") from e
    if size > max_bytes:
        raise ModelLoadError(p, f"file is {size} bytes, more than the limit of {max_bytes}")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ModelLoadError(p, f"cannot read Torch7 file: {e.strerror or e}") from e
    if long_size is not None:
        return read_t7_bytes(data, str(p), long_size=long_size, max_depth=max_depth)
    try:
        return read_t7_bytes(data, str(p), long_size=8, max_depth=max_depth)
    except ModelLoadError as first:
        try:
            obj = read_t7_bytes(data, str(p), long_size=4, max_depth=max_depth)
        except ModelLoadError:
            raise first from None
        log.info("%s: read with 4-byte longs (a file written on Windows)", p)
        return obj


def lua_list(table: Any, what: str = "table", name: str = "<t7>") -> list[Any]:
    """The values of a Lua array table ``{1: a, 2: b, ...}`` in order.

    Raises:
        ModelLoadError: ``table`` is not a dict with exactly the keys 1..n.
    """
    if not isinstance(table, dict):
        raise ModelLoadError(name, f"{what} is not a Lua table")
    n = len(table)
    if set(table) != set(range(1, n + 1)):
        raise ModelLoadError(name, f"{what} is not a Lua array (keys {sorted(map(str, table))[:5]}...)")
    return [table[i] for i in range(1, n + 1)]
