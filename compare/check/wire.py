"""What crosses between `check` and the worker process that holds a learner's twin: plain data only.

A message is JSON (numbers, strings, lists, dicts) plus NumPy arrays as their raw bytes, each with
its shape and a dtype that must name plain numbers (bool, int, float, complex: `<f8`, `|b1`, ...).
Nothing the worker sends can run code when the parent reads it: no pickle, no object dtype. That is
what .npy read with allow_pickle=False gives, without parsing .npy's header (a Python literal) for
each of the two thousand arrays a check sends. Everything else the worker holds (a model, a layer,
a History) stays there and crosses as a handle, a number naming it. The reference cache (cache.py)
is written in the same form.

Imports NumPy and the standard library only: the worker imports it before the twin.
"""
import io
import json
import os
import re
import select
import struct
import time

import numpy as np

MAX_MESSAGE = 1 << 30          # 1 GiB: a larger frame is refused before it is read
PLAIN_DTYPE = re.compile(r"[<>|=]?[biufc][0-9]{1,2}")      # bool, int, uint, float, complex: never an object


class WireError(Exception):
    """A message that is not one: too large, cut short, or not in this format."""


class Handle:
    """An object that stays in the worker: `id` names it there; its type's names, and whether it is callable."""

    def __init__(self, id, type_names, callable_):
        self.id, self.type_names, self.callable = id, list(type_names), bool(callable_)


class Given:
    """An array `check` hands to the twin and watches (guard.py): sent once, then named by `gid`."""

    def __init__(self, gid, label, array):
        self.gid, self.label, self.array = gid, label, array


# ---- encoding ----------------------------------------------------------------------------

def encode(value, handle_of=None, sent=None):
    """bytes of `value`. handle_of(obj) -> Handle, for what is not plain data (None: refuse it);
    sent: the set of Given ids the other side already holds (their arrays are not sent again)."""
    arrays = []

    def array_ref(array):
        arrays.append(np.ascontiguousarray(array))
        return [len(arrays) - 1, array.dtype.str, list(array.shape)]

    def walk(item):
        if item is None or isinstance(item, (bool, str)):
            return item
        if isinstance(item, int) and not isinstance(item, bool):
            return int(item)
        if isinstance(item, float):
            return float(item)
        if isinstance(item, Given):
            first = sent is None or item.gid not in sent
            if sent is not None:
                sent.add(item.gid)
            return {"given": item.gid, "label": item.label, "array": array_ref(item.array) if first else None}
        if isinstance(item, Handle):
            return {"handle": item.id, "types": item.type_names, "callable": item.callable}
        if isinstance(item, np.generic) and item.dtype.kind in "biufc":
            return {"scalar": array_ref(np.asarray(item))}
        if isinstance(item, np.ndarray) and item.dtype.kind in "biufc":
            return {"array": array_ref(np.asarray(item))}
        if isinstance(item, (list, tuple)):
            return {"list": [walk(each) for each in item]}
        if isinstance(item, dict) and all(isinstance(key, str) for key in item):
            return {"dict": [[key, walk(each)] for key, each in item.items()]}
        if handle_of is None:
            raise WireError(f"{type(item).__name__} is not plain data")
        return walk(handle_of(item))

    header = json.dumps({"value": walk(value), "arrays": len(arrays)}).encode()
    out = io.BytesIO()
    out.write(struct.pack(">Q", len(header)))
    out.write(header)
    for array in arrays:
        blob = array.tobytes()
        out.write(struct.pack(">Q", len(blob)))
        out.write(blob)
    return out.getvalue()


def decode(data, given=None):
    """The value of bytes from encode(). Handles come back as Handle, Given as Given (its array
    taken from `given`, {gid: array}, when it was sent before). Arrays are writable copies."""
    view = memoryview(data)
    position = 0

    def take(size):
        nonlocal position
        if size > len(view) - position:
            raise WireError("a message cut short")
        chunk = view[position:position + size]
        position += size
        return chunk

    try:
        (size,) = struct.unpack(">Q", take(8))
        header = json.loads(bytes(take(size)))
        blobs = []
        for _ in range(int(header["arrays"])):
            (size,) = struct.unpack(">Q", take(8))
            blobs.append(take(size))
    except WireError:
        raise
    except Exception as error:               # any malformed frame: said as one kind of error
        raise WireError(f"not a message: {type(error).__name__}: {error}") from None

    def array(ref):
        index, dtype, shape = ref
        if not isinstance(dtype, str) or not PLAIN_DTYPE.fullmatch(dtype):
            raise WireError(f"an array of dtype {dtype!r}: only plain numbers cross")
        return np.frombuffer(bytearray(blobs[index]), dtype=np.dtype(dtype)).reshape(shape)   # a writable copy

    def walk(item):
        if not isinstance(item, dict):
            return item
        if "list" in item:
            return [walk(each) for each in item["list"]]
        if "dict" in item:
            return {str(key): walk(each) for key, each in item["dict"]}
        if "array" in item and "given" not in item:
            return array(item["array"])
        if "scalar" in item:
            return array(item["scalar"])[()]
        if "handle" in item:
            return Handle(int(item["handle"]), [str(name) for name in item["types"]], item["callable"])
        if "given" in item:
            gid = int(item["given"])
            value = array(item["array"]) if item["array"] is not None else (given or {}).get(gid)
            if value is None:
                raise WireError(f"an array given before ({gid}) that was never sent")
            return Given(gid, str(item["label"]), value)
        raise WireError(f"an unknown item: {sorted(item)}")

    try:
        return walk(header["value"])
    except WireError:
        raise
    except Exception as error:
        raise WireError(f"not a message: {type(error).__name__}: {error}") from None


# ---- frames on a pipe ------------------------------------------------------------------------

class Closed(Exception):
    """The other end closed the pipe."""


class TimedOut(Exception):
    """No whole frame before the deadline."""


def send(fd, payload, deadline=None):
    """Write one frame (8-byte length, then the payload); a non-blocking fd waits until `deadline`."""
    data = memoryview(struct.pack(">Q", len(payload)) + payload)
    while data:
        _wait(fd, deadline, write=True)
        try:
            written = os.write(fd, data)
        except BlockingIOError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            raise Closed() from None
        data = data[written:]


def receive(fd, deadline=None):
    """Read one frame's payload; Closed at end of file, TimedOut past `deadline` (time.monotonic())."""
    (size,) = struct.unpack(">Q", _read_exactly(fd, 8, deadline))
    if size > MAX_MESSAGE:
        raise WireError(f"a message of {size} bytes, over the {MAX_MESSAGE} allowed")
    return _read_exactly(fd, size, deadline)


def _read_exactly(fd, size, deadline):
    chunks, left = [], size
    while left:
        _wait(fd, deadline)
        try:
            chunk = os.read(fd, min(left, 1 << 20))
        except BlockingIOError:
            continue
        if not chunk:
            raise Closed()
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _wait(fd, deadline, write=False):
    if deadline is None:
        return
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimedOut()
    ready = select.select([], [fd], [], left) if write else select.select([fd], [], [], left)
    if not any(ready):
        raise TimedOut()
