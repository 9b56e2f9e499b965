"""Pure reader of ``torch.save`` checkpoints that hold a flat state dict of tensors; nothing is ever unpickled.

A torch checkpoint is a pickle whose tensors point (persistent ids) at raw storage bytes stored beside it. This
module decodes the pickle with :func:`pickletools.genops`, which only parses opcodes (it never imports or calls
anything), and interprets them on a small stack machine of its own: ``GLOBAL`` only records a ``(module, name)``
pair, and ``REDUCE`` is only carried out, by this module's own code, for ``collections.OrderedDict`` and
``torch._utils._rebuild_tensor(_v2)`` / ``_rebuild_parameter``. Any other opcode or call is refused.

Two containers are read:

- zip (torch >= 1.6): ``<prefix>/data.pkl``, ``<prefix>/data/<key>`` storages, ``<prefix>/byteorder``.
- legacy (torch 0.1.10 - 1.5, e.g. torchvision's ``vgg16-397923af.pth``): the pickles magic number, protocol,
  sys_info, the object, the storage keys, then per key a little-endian int64 element count and the bytes.

Tensors come back on the CPU with ``requires_grad=False``; tensors that share a storage in the file share memory.
"""
from __future__ import annotations

import pickletools
import sys
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from fav_core.errors import ModelLoadError

#: ``torch.<Name>Storage`` -> (dtype, bytes per element).
STORAGE_DTYPES: dict[str, tuple[torch.dtype, int]] = {
    "FloatStorage": (torch.float32, 4), "DoubleStorage": (torch.float64, 8), "HalfStorage": (torch.float16, 2),
    "BFloat16Storage": (torch.bfloat16, 2), "LongStorage": (torch.int64, 8), "IntStorage": (torch.int32, 4),
    "ShortStorage": (torch.int16, 2), "CharStorage": (torch.int8, 1), "ByteStorage": (torch.uint8, 1),
    "BoolStorage": (torch.bool, 1),
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_PUSH_ARG = {"BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "BINSTRING", "SHORT_BINSTRING", "BININT", "BININT1",
             "BININT2", "LONG1", "BINFLOAT"}
_CONSTANTS = {"NEWTRUE": True, "NEWFALSE": False, "NONE": None}
_CONVERT = ("only if you trust its origin, convert it once with "
            "safetensors.torch.save_file(torch.load(path, weights_only=True), 'weights.safetensors')")


@dataclass(frozen=True)
class _Global:
    module: str
    name: str


@dataclass(frozen=True, eq=False)
class _Storage:
    key: str
    dtype: torch.dtype
    itemsize: int
    numel: int


@dataclass(frozen=True)
class _TensorRef:
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _ints(value: object, what: str, path: Path) -> tuple[int, ...]:
    if not isinstance(value, tuple) or not all(type(v) is int and v >= 0 for v in value):
        raise ModelLoadError(path, f"tensor {what} is not a tuple of non-negative ints")
    return value


def _rebuild_tensor(args: tuple[Any, ...], path: Path) -> _TensorRef:
    """``_rebuild_tensor(storage, offset, size, stride)`` and ``_v2`` (+ requires_grad, hooks[, metadata])."""
    if len(args) not in (4, 6, 7) or not isinstance(args[0], _Storage) or type(args[1]) is not int or args[1] < 0:
        raise ModelLoadError(path, "malformed tensor record in the pickle")
    size, stride = _ints(args[2], "size", path), _ints(args[3], "stride", path)
    if len(size) != len(stride):
        raise ModelLoadError(path, f"tensor size {size} and stride {stride} differ in length")
    return _TensorRef(args[0], args[1], size, stride)


def _reduce(func: object, args: object, path: Path) -> object:
    """The only calls a state dict needs, carried out here; anything else is refused (it could run code)."""
    if not isinstance(func, _Global) or not isinstance(args, tuple):
        raise ModelLoadError(path, "malformed REDUCE in the pickle")
    target = f"{func.module}.{func.name}"
    if target == "collections.OrderedDict" and args == ():
        return {}
    if target in ("torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2"):
        return _rebuild_tensor(args, path)
    if target == "torch._utils._rebuild_parameter" and len(args) == 3 and isinstance(args[0], _TensorRef):
        return args[0]
    raise ModelLoadError(path, f"refusing to call {target} (only tensor state dicts are read; the file may hold code)")


def _interpret(ops: Iterator[tuple[pickletools.OpcodeInfo, Any, int | None]], persistent_load: Callable[[Any], object],
               path: Path) -> object:
    """Run the opcodes of one pickle on a restricted stack machine; return what STOP returns."""
    stack: list[Any] = []
    marks: list[int] = []
    memo: dict[int, Any] = {}

    def pop_mark() -> list[Any]:
        start = marks.pop()
        items = stack[start:]
        del stack[start:]
        return items

    try:
        for op, arg, pos in ops:
            name = op.name
            if name in _PUSH_ARG:
                stack.append(arg)
            elif name in _CONSTANTS:
                stack.append(_CONSTANTS[name])
            elif name in ("PROTO", "FRAME"):
                pass
            elif name in ("EMPTY_DICT", "EMPTY_LIST", "EMPTY_TUPLE"):
                stack.append({} if name == "EMPTY_DICT" else [] if name == "EMPTY_LIST" else ())
            elif name == "MARK":
                marks.append(len(stack))
            elif name == "TUPLE":
                stack.append(tuple(pop_mark()))
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(name[-1])
                if len(stack) < n:
                    raise IndexError(f"{name} on a stack of {len(stack)}")
                stack[-n:] = [tuple(stack[-n:])]
            elif name == "GLOBAL":
                module, _, attr = str(arg).partition(" ")
                stack.append(_Global(module, attr))
            elif name == "STACK_GLOBAL":
                attr, module = _as(stack.pop(), str, name, path), _as(stack.pop(), str, name, path)
                stack.append(_Global(module, attr))
            elif name == "BINPERSID":
                stack.append(persistent_load(stack.pop()))
            elif name == "REDUCE":
                args = stack.pop()
                stack.append(_reduce(stack.pop(), args, path))
            elif name == "BUILD":
                stack.pop()  # instance state (an OrderedDict's ``_metadata``): not needed, dropped
                if not isinstance(stack[-1], dict):
                    raise ModelLoadError(path, f"BUILD on a {type(stack[-1]).__name__} at byte {pos}")
            elif name in ("SETITEM", "SETITEMS"):
                items = pop_mark() if name == "SETITEMS" else [stack.pop(-2), stack.pop()]
                if not all(type(k) in (str, int) for k in items[::2]):  # never hash nested tuples (C recursion)
                    raise ModelLoadError(path, f"dict key that is not a str or int at byte {pos}")
                _as(stack[-1], dict, name, path).update(zip(items[::2], items[1::2], strict=True))
            elif name in ("APPEND", "APPENDS"):
                items = pop_mark() if name == "APPENDS" else [stack.pop()]
                _as(stack[-1], list, name, path).extend(items)
            elif name in ("BINPUT", "LONG_BINPUT"):
                memo[int(arg)] = stack[-1]
            elif name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            elif name in ("BINGET", "LONG_BINGET"):
                stack.append(memo[int(arg)])
            elif name == "STOP":
                return stack.pop()
            else:
                raise ModelLoadError(path, f"unsupported pickle opcode {name} at byte {pos} (not a plain state dict)")
    except (IndexError, KeyError, TypeError, ValueError, RecursionError) as e:  # underflow, bad memo/key/op, depth
        raise ModelLoadError(path, f"malformed pickle in torch file ({type(e).__name__}: {e})") from e
    raise ModelLoadError(path, "torch file pickle ends without STOP")


def _as(value: Any, kind: type, opcode: str, path: Path) -> Any:
    if not isinstance(value, kind):
        raise ModelLoadError(path, f"{opcode} on a {type(value).__name__} in the pickle")
    return value


def _storage_loader(path: Path, legacy: bool) -> tuple[Callable[[Any], object], dict[str, _Storage]]:
    """A persistent_load for ``('storage', torch.<T>Storage, key, location, numel[, view])``; and the storages."""
    storages: dict[str, _Storage] = {}

    def load(pid: Any) -> _Storage:
        n = 6 if legacy else 5
        if not isinstance(pid, tuple) or len(pid) != n or pid[0] != "storage" or not isinstance(pid[1], _Global):
            raise ModelLoadError(path, "unsupported persistent id (only tensor storages are read)")
        if legacy and pid[5] is not None:
            raise ModelLoadError(path, "storage views of torch < 0.4 are not read")
        kind, key, numel = pid[1], pid[2], pid[4]
        if kind.module != "torch" or kind.name not in STORAGE_DTYPES:
            raise ModelLoadError(path, f"unsupported storage type {kind.module}.{kind.name}")
        if type(key) is not str or type(numel) is not int or numel < 0:
            raise ModelLoadError(path, "storage record without a str key and an element count")
        dtype, itemsize = STORAGE_DTYPES[kind.name]
        storage = storages.setdefault(key, _Storage(key, dtype, itemsize, numel))
        if (storage.dtype, storage.numel) != (dtype, numel):
            raise ModelLoadError(path, f"storage {key} is declared twice with different types or sizes")
        return storage

    return load, storages


def _read_exact(stream: IO[bytes], nbytes: int, path: Path, what: str) -> bytearray:
    buf = bytearray(nbytes)
    view, done = memoryview(buf), 0
    while done < nbytes:
        got = stream.readinto(view[done:])  # type: ignore[attr-defined]
        if not got:
            raise ModelLoadError(path, f"{what} is truncated ({done} of {nbytes} bytes)")
        done += got
    return buf


def _to_tensor(buf: bytearray, storage: _Storage, byteorder: str) -> torch.Tensor:
    if not buf:
        return torch.empty(0, dtype=storage.dtype)
    if byteorder != sys.byteorder and storage.itemsize > 1:
        np.frombuffer(buf, dtype=f"u{storage.itemsize}").byteswap(inplace=True)
    return torch.frombuffer(buf, dtype=storage.dtype)


def _materialize(obj: object, data: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """Turn the interpreted ``{key: _TensorRef}`` into CPU tensors (strided views of their storages)."""
    if not isinstance(obj, dict):
        raise ModelLoadError(path, f"torch file holds {type(obj).__name__}, not a state dict")
    out: dict[str, torch.Tensor] = {}
    for key, ref in obj.items():
        if not isinstance(key, str) or not isinstance(ref, _TensorRef):
            what = "a nested dict" if isinstance(ref, dict) else type(ref).__name__
            name = repr(key[:60]) if isinstance(key, str) else f"of type {type(key).__name__}"
            raise ModelLoadError(path, f"entry {name} holds {what}, not a tensor (flat state dicts only)")
        last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride, strict=True))
        if 0 not in ref.size and last >= ref.storage.numel:
            raise ModelLoadError(path, f"tensor {key!r} reaches past the end of its storage")
        out[key] = data[ref.storage.key].as_strided(ref.size, ref.stride, ref.offset)
    return out


def _read_zip(path: Path, archive: zipfile.ZipFile) -> dict[str, torch.Tensor]:
    pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
        raise ModelLoadError(path, "zip file is not a torch.save checkpoint (no single <name>/data.pkl)")
    prefix = pickles[0][: -len("data.pkl")]
    names = set(archive.namelist())
    byteorder = archive.read(prefix + "byteorder").decode() if prefix + "byteorder" in names else "little"
    if byteorder not in ("little", "big"):
        raise ModelLoadError(path, f"unknown byteorder {byteorder[:20]!r}")
    load, storages = _storage_loader(path, legacy=False)
    obj = _interpret(pickletools.genops(archive.read(pickles[0])), load, path)
    data: dict[str, torch.Tensor] = {}
    for key, storage in storages.items():
        entry = f"{prefix}data/{key}"
        if entry not in names:
            raise ModelLoadError(path, f"storage {key} is missing from the zip")
        info, nbytes = archive.getinfo(entry), storage.numel * storage.itemsize
        if info.file_size != nbytes or nbytes > 1100 * info.compress_size + 4096:  # deflate expands < 1032x
            raise ModelLoadError(path, f"storage {key} has {info.file_size} bytes, expected {nbytes}")
        with archive.open(entry) as stream:
            data[key] = _to_tensor(_read_exact(stream, nbytes, path, f"storage {key}"), storage, byteorder)
    return _materialize(obj, data, path)


def _read_legacy(path: Path, f: IO[bytes], size: int) -> dict[str, torch.Tensor]:
    def refuse(_pid: Any) -> object:
        raise ModelLoadError(path, "unexpected persistent id in the legacy header")

    if _interpret(pickletools.genops(f), refuse, path) != _LEGACY_MAGIC:
        raise ModelLoadError(path, f"not a torch.save checkpoint (neither zip nor legacy format); {_CONVERT}")
    if _interpret(pickletools.genops(f), refuse, path) != _LEGACY_PROTOCOL:
        raise ModelLoadError(path, "unsupported legacy torch protocol version")
    info = _interpret(pickletools.genops(f), refuse, path)
    if not isinstance(info, dict) or info.get("little_endian") is not True:
        raise ModelLoadError(path, "legacy torch file from a big-endian machine (unsupported)")
    load, storages = _storage_loader(path, legacy=True)
    obj = _interpret(pickletools.genops(f), load, path)
    keys = _interpret(pickletools.genops(f), refuse, path)
    if not isinstance(keys, list) or not all(type(k) is str for k in keys) or sorted(keys) != sorted(storages):
        raise ModelLoadError(path, "legacy torch file lists other storages than its tensors use")
    data: dict[str, torch.Tensor] = {}
    for key in keys:
        storage = storages[key]
        numel = int.from_bytes(_read_exact(f, 8, path, f"storage {key} header"), "little")
        if numel != storage.numel:
            raise ModelLoadError(path, f"storage {key} has {numel} elements, expected {storage.numel}")
        nbytes = numel * storage.itemsize
        if nbytes > size - f.tell():
            raise ModelLoadError(path, f"storage {key} is truncated (needs {nbytes} bytes)")
        data[key] = _to_tensor(_read_exact(f, nbytes, path, f"storage {key}"), storage, "little")
    return _materialize(obj, data, path)


def read_pth(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``torch.save`` file holding a flat state dict, read without unpickling.

    Args:
        path: a zip-format (torch >= 1.6) or legacy-format (torch 0.1.10 - 1.5) ``.pth`` / ``.pt`` file.

    Returns:
        ``{key: tensor}`` on the CPU; tensors that share a storage in the file share memory.

    Raises:
        ModelLoadError: missing/unreadable/truncated file, old tar format, anything that is not a flat dict of
            tensors (nested dicts, other objects), or a pickle that would call anything but tensor rebuilding.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(path, "torch weights file not found")
    try:
        with path.open("rb") as f:
            if f.read(4) == b"PK\x03\x04":
                with zipfile.ZipFile(f) as archive:
                    return _read_zip(path, archive)
            if tarfile.is_tarfile(path):
                raise ModelLoadError(path, f"tar-format torch file (torch < 0.1.10) is not read; {_CONVERT}")
            f.seek(0)
            return _read_legacy(path, f, path.stat().st_size)
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise ModelLoadError(path, f"cannot read torch file ({type(e).__name__}: {e})") from e
