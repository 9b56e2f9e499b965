"""Host <-> device copies of frames for the stylizer's device path (:class:`fav_core.stylizer.Stylizer`).

On CUDA, :class:`Transfers` copies uploads on one side stream and downloads on another, so that copying frame
t+1 in, and frame t out, overlaps with the network of the frames around them on the compute stream (the current
stream); downloads land in pinned host memory. On a CPU every call is a plain, finished copy.

Convention:
    Host frames are numpy (H, W, C) float32 (the core convention); device frames are (1, C, H, W) float32.
    The transpose happens on the device (one contiguous copy over the bus, no strided copy on the host).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fav_core.errors import check_shape


@dataclass
class Download:
    """Host copies of device tensors that may still be in flight: :meth:`wait` before using them.

    Attributes:
        host: the host tensors (pinned on CUDA), in the order they were asked for.
        done: recorded after the copies (CUDA), None when they are already finished.
    """

    host: list[torch.Tensor]
    done: torch.cuda.Event | None

    def wait(self) -> list[np.ndarray]:
        """Block until the copies are finished; the host tensors as numpy arrays (sharing their memory)."""
        if self.done is not None:
            self.done.synchronize()
        return [t.numpy() for t in self.host]


def pinned_copy(array: np.ndarray) -> torch.Tensor:
    """A float32 copy of a host array in page-locked (pinned) memory, as a CPU tensor of the same shape.

    Needs a CUDA build with a device (pinned memory is a CUDA allocation). The copy is torch's (multi-threaded)
    for writeable arrays and numpy's for read-only ones (torch cannot view those without a warning); the memory
    goes back to torch's pinned-memory cache when the tensor is dropped, not before a non-blocking copy that
    reads it has finished.
    """
    data = np.asarray(array, dtype=np.float32)
    host = torch.empty(data.shape, dtype=torch.float32, pin_memory=True)
    if data.flags.writeable and all(st >= 0 for st in data.strides):
        host.copy_(torch.from_numpy(data))
    else:
        np.copyto(host.numpy(), data)
    return host


def upload_on(array: np.ndarray, device: torch.device, stream: torch.cuda.Stream | None) -> torch.Tensor:
    """(H, W, C) host array -> (1, C, H, W) float32 tensor on ``device``, from any thread.

    On CUDA the array is copied into pinned memory (on the calling thread) and uploaded without blocking on
    ``stream`` (the transpose runs there too): the result is usable on another stream only after that stream
    waited for ``stream`` (an event recorded on it), and its memory belongs to ``stream`` (``record_stream`` on
    the consuming stream, or keep it alive until the consumer's work is finished). On a CPU: a plain copy.

    Raises:
        ShapeError: ``array`` is not (H, W, C).
    """
    check_shape(array, "H W C", "frame")
    if device.type != "cuda":
        host = torch.from_numpy(np.array(array, dtype=np.float32, copy=True))
        return host.permute(2, 0, 1).unsqueeze(0).contiguous()
    host = pinned_copy(array)
    with torch.cuda.stream(stream if stream is not None else torch.cuda.current_stream(device)):
        return host.to(device, non_blocking=True).permute(2, 0, 1).unsqueeze(0).contiguous()


class Transfers:
    """Uploads and downloads of one stylizer run (see the module docstring).

    Args:
        device: the torch device the network runs on.
        side_streams: on CUDA, copy on two side streams (uploads, downloads) so copies overlap with compute;
            False = every copy on the current stream (still pinned, non-blocking downloads).
    """

    def __init__(self, device: torch.device, side_streams: bool = True) -> None:
        self.device = device
        self.cuda = device.type == "cuda"
        self._h2d = torch.cuda.Stream(device) if self.cuda and side_streams else None
        self._d2h = torch.cuda.Stream(device) if self.cuda and side_streams else None

    def upload(self, array: np.ndarray) -> torch.Tensor:
        """(H, W, C) host array -> (1, C, H, W) float32 device tensor, usable on the current stream after
        :meth:`ready` (one copy of the array as it is, the transpose on the device).

        Raises:
            ShapeError: ``array`` is not (H, W, C).
        """
        check_shape(array, "H W C", "frame")
        data = np.ascontiguousarray(array, dtype=np.float32)
        if not data.flags.writeable:  # torch.from_numpy warns on read-only arrays (never written here)
            data = data.copy()
        host = torch.from_numpy(data)
        if not self.cuda:  # always a copy: never a view of the caller's array
            return host.permute(2, 0, 1).unsqueeze(0).clone(memory_format=torch.contiguous_format)
        if self._h2d is None:
            return host.to(self.device, non_blocking=True).permute(2, 0, 1).unsqueeze(0).contiguous()
        compute = torch.cuda.current_stream(self.device)
        with torch.cuda.stream(self._h2d):  # allocated from this stream's pool: no wait for the compute stream
            dev = host.to(self.device, non_blocking=True).permute(2, 0, 1).unsqueeze(0).contiguous()
        dev.record_stream(compute)  # the compute stream uses it: its memory must outlive that use
        return dev

    def ready(self) -> None:
        """Make the current (compute) stream wait for the uploads issued so far."""
        if self._h2d is not None:
            torch.cuda.current_stream(self.device).wait_stream(self._h2d)

    def download(self, tensors: Sequence[torch.Tensor]) -> Download:
        """Start copying device tensors (made on the current stream) to the host; :meth:`Download.wait` for them.

        On CUDA the host tensors are pinned (page-locked) and the arrays handed out share their memory: it goes
        back to torch's pinned-memory cache when the last array is dropped, so a consumer that keeps many frames
        alive keeps that much page-locked memory (the CLI's writers keep a few).
        """
        if not self.cuda:
            return Download([t.detach().cpu() for t in tensors], None)
        compute = torch.cuda.current_stream(self.device)
        host = [torch.empty(t.shape, dtype=t.dtype, pin_memory=True) for t in tensors]
        stream = self._d2h if self._d2h is not None else compute
        if self._d2h is not None:
            self._d2h.wait_stream(compute)
        with torch.cuda.stream(stream):
            for h, t in zip(host, tensors, strict=True):
                h.copy_(t, non_blocking=True)
                if stream is not compute:
                    t.record_stream(stream)
            done = torch.cuda.Event()
            done.record(stream)
        return Download(host, done)
