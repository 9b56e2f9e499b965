"""The Stylizer's device path: the recursion kept on the torch device (:class:`DeviceLoop`, one per Stylizer).

Device path (``Stylizer.device_ops``, on by default on CUDA): the previous raw output stays a device tensor
between frames; frame, flow (and, for a :class:`~fav_core.motion.PendingMotion`, the forward flow) are uploaded
once; the consistency check, invert/fix, min filter, warp, net and median run on the device
(:mod:`fav_core.occlusion_torch`, :mod:`fav_core.median_torch`), and only the finished frame comes back (into
pinned memory on CUDA). The frames handed out are the same :class:`~fav_core.stylizer.StylizedFrame` numpy
arrays as on the numpy path, which stays the default on the CPU.

Overlap (``Stylizer.overlap``): :meth:`DeviceLoop.run_overlapped` reads, uploads and queues frame t+1 before it
hands out frame t; uploads go on one side stream and downloads on another
(:class:`~fav_core.transfer_torch.Transfers`), the nets run on the current (compute) stream. Yields, progress,
cancel checks and errors come in the serial loop's order.

Staging (``Stylizer.stage_ahead``, on by default on CUDA): when ``Stylizer.run`` reads from a
:class:`~fav_core.pipeline.FramePipeline`, it hands the pipeline's read-ahead thread ``Stylizer.stage``, so
frame t+1's host-to-device work happens there while the network runs frame t: frame and flows copied into pinned
memory, uploaded on a side stream (the Stylizer's staging stream), the consistency check, invert/fix and min
filter run on that stream; the loop only waits (on the GPU, by an event) for that stream before its warp, and
ties the staged tensors' memory to the compute stream (``record_stream``). Same operations on the same data: the
frames are identical to the unstaged device path.

Convention:
    - device frames and priors: (1, 3, H, W) float32, rgb01 (network encoding); flows (1, 2, H, W) float32,
      channel 0 = dx, 1 = dy, backward flow t -> prev; masks (1, 1, H, W) float32 in [0, 1], 1 = reliable,
      as the net sees them (after invert/fix and the min filter).
    - host copies coming back: (1 or 2, H, W, 3) float32 raw (+ median-filtered rgb) and (H, W) mask.
    - streams (CUDA): nets on the current stream; :class:`~fav_core.transfer_torch.Transfers` side streams for
      the loop's uploads and downloads; one staging stream per Stylizer for :meth:`DeviceLoop.stage`, joined
      by an event. On a CPU every step is a plain, finished operation.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from fav_core.errors import Cancelled, ShapeError
from fav_core.median_torch import median_filter_t
from fav_core.motion import Motion, PendingMotion
from fav_core.occlusion_torch import consistency_check_t, fix_occlusions_t, invert_t, min_filter_t
from fav_core.transfer_torch import Download, Transfers, upload_on
from fav_core.types import CancelToken, Frame, Progress
from fav_core.warp import warp_backward

if TYPE_CHECKING:
    from fav_core.stylizer import StylizedFrame, Stylizer


@dataclass
class PendingFrame:
    """A frame of the device path whose network is queued and whose download may still be in flight."""

    frame: Frame
    raw: torch.Tensor  # (1, 3, H, W) on the device: the next frame's prior
    copies: Download  # [(1 or 2, H, W, 3) raw (+ median-filtered rgb)] (+ [(H, W) mask])
    filtered: bool
    staged: StagedFrame | None = None  # kept until the download is waited for (its tensors' last use is before)


@dataclass
class StagedFrame:
    """Frame t made ready on the device ahead of the loop by ``Stylizer.stage`` (in a read-ahead thread).

    Attributes:
        frame: the host frame it was made from (identity is checked when it is used).
        prev_index: the frame its motion points to; None = staged without motion (only ``x``).
        owner: ``id`` of the Stylizer that staged it (only that one uses it).
        x: (1, 3, H, W) float32 frame on the device, rgb01.
        flow: (1, 2, H, W) float32 backward flow t -> prev, or None.
        mask: (1, 1, H, W) float32 mask as the net sees it (check, invert/fix, min filter done), or None.
        ready: event recorded on the staging stream after all of the above (CUDA), None when already done.
    """

    frame: Frame
    prev_index: int | None
    owner: int
    x: torch.Tensor
    flow: torch.Tensor | None
    mask: torch.Tensor | None
    ready: torch.cuda.Event | None

    def use_on(self, device: torch.device) -> None:
        """Make the current stream of ``device`` wait for the staging work, and tie the tensors' memory to it."""
        if self.ready is None:
            return
        compute = torch.cuda.current_stream(device)
        compute.wait_event(self.ready)
        for t in (self.x, self.flow, self.mask):
            if t is not None:
                t.record_stream(compute)


class DeviceLoop:
    """The device path of one :class:`~fav_core.stylizer.Stylizer`, which creates and owns it.

    Holds the device path's state: the staging stream (CUDA) and the last delivered frame with its raw output on
    the device (the next prior). The steps the Stylizer exposes (``Stylizer.stage``, ``Stylizer._device_frame``)
    are called through the Stylizer, so that wrapping them there (tests, bench) wraps what this loop runs.

    Args:
        stylizer: the owner (its config, motion source, first-frame step and :meth:`Stylizer.video_step`).
        device: the owner's resolved torch device; on CUDA a staging stream is created on it.
    """

    def __init__(self, stylizer: Stylizer, device: torch.device) -> None:
        self._st = stylizer
        self._device = device
        self.stage_stream: torch.cuda.Stream | None = torch.cuda.Stream(device) if device.type == "cuda" else None
        # The last output of the device path and its raw output as a (1, 3, H, W) device tensor (the next prior).
        self.last: tuple[StylizedFrame, torch.Tensor] | None = None

    def run_overlapped(
        self,
        source: object,
        order: list[int],
        prior: StylizedFrame | None,
        prev_in: Frame | None,
        on_progress: Callable[[Progress], None] | None,
        cancel: CancelToken | None,
    ) -> Iterator[StylizedFrame]:
        """``Stylizer.run`` on the device, one frame ahead: frame t+1 is read, uploaded and queued before frame t
        is handed out. Yields, progress, cancel checks and errors come in the serial loop's order: a read error
        of frame t+1 is raised after frame t is handed out; a cancel seen after handing out frame t drops t+1."""
        st = self._st
        total = len(order)
        transfers = Transfers(self._device, side_streams=True)
        staging = self._device.type == "cuda" if st.stage_ahead is None else bool(st.stage_ahead)
        set_stage = getattr(source, "set_stage", None)
        staged_frame = getattr(source, "staged_frame", None) if staging and callable(set_stage) else None
        if staged_frame is not None:
            set_stage(st.stage)  # type: ignore[misc]
        prev_raw = transfers.upload(prior.raw) if prior is not None and prev_in is not None else None
        pending: PendingFrame | None = None
        done = 0

        def deliver(item: PendingFrame) -> StylizedFrame:
            nonlocal done
            out = self.deliver(item)
            done += 1
            if on_progress is not None:
                on_progress(Progress(done=done, total=total, frame=out.index))
            return out

        def check_cancel() -> None:
            if cancel is not None and cancel.cancelled:
                raise Cancelled(f"cancelled after {done} of {total} frames")

        check_cancel()
        for index in order:
            try:
                frame = source.read(index)  # type: ignore[attr-defined]
                staged = self.own_staged(staged_frame(frame) if staged_frame is not None else None, frame)
                if st.config.per_frame or prev_raw is None or prev_in is None:
                    queued = st._device_frame(frame, None, None, transfers, staged)
                else:
                    check_size(frame, prev_raw)
                    assert st.motion is not None
                    motion = st.motion.motion(frame, prev_in)  # raises the motion's error where the loop would
                    if staged is not None and staged.prev_index != prev_in.index:
                        staged = None
                    queued = st._device_frame(frame, motion, prev_raw, transfers, staged)
            except Exception:
                if pending is not None:  # the serial loop had handed it out before this frame's failure
                    yield deliver(pending)
                    check_cancel()
                raise
            if pending is not None:
                yield deliver(pending)
                check_cancel()  # the serial loop's check before the frame just queued
            pending, prev_in, prev_raw = queued, frame, queued.raw
        if pending is not None:
            yield deliver(pending)

    def own_staged(self, staged: object, frame: Frame) -> StagedFrame | None:
        """``staged`` when it is this Stylizer's staging of exactly ``frame``, else None."""
        if isinstance(staged, StagedFrame) and staged.owner == id(self._st) and staged.frame is frame:
            return staged
        return None

    def stage(self, frame: Frame, motion: Motion | PendingMotion | None, prev_index: int | None) -> StagedFrame:
        """Upload ``frame`` (and its motion) and make its mask on the staging stream; callable from any thread.

        Arguments and result as ``Stylizer.stage``, which delegates here (see also the module docstring).
        """
        dev, stream = self._device, self.stage_stream
        ctx: AbstractContextManager[object] = torch.cuda.stream(stream) if stream is not None else nullcontext()
        with torch.no_grad(), ctx:
            x = upload_on(frame.rgb, dev, stream)
            flow = mask = None
            if motion is not None:
                flow = upload_on(motion.flow, dev, stream)
                if isinstance(motion, PendingMotion):
                    fwd = upload_on(motion.flow_fwd, dev, stream)
                    image = None  # the structure term sees frame cur ×255 (float32), as the numpy check
                    if motion.image is not None:
                        image = (x if motion.image is frame.rgb else upload_on(motion.image, dev, stream)) * 255.0
                    reliable = consistency_check_t(flow, fwd, image)
                else:
                    reliable = upload_on(np.asarray(motion.reliable, dtype=np.float32)[..., None], dev, stream)
                mask = self.prepare_mask_t(reliable, flow)
            ready = None
            if stream is not None:
                ready = torch.cuda.Event()
                ready.record(stream)
        return StagedFrame(frame, prev_index if motion is not None else None, id(self._st), x, flow, mask, ready)

    def device_frame(
        self,
        frame: Frame,
        motion: Motion | PendingMotion | None,
        prior: torch.Tensor | None,
        transfers: Transfers,
        staged: StagedFrame | None = None,
    ) -> PendingFrame:
        """Upload, compute and start the download of one frame on the device (``prior`` None = a first frame).

        Uploads: the frame, the backward flow and either the forward flow (a :class:`PendingMotion`: the
        consistency check runs here) or the ready reliability map — or nothing, when ``staged`` (made by
        :meth:`stage` from the same frame and motion) has them. Downloads: raw, median-filtered rgb, mask.
        """
        st = self._st
        if staged is not None:
            staged.use_on(self._device)
            x = staged.x
        else:
            x = transfers.upload(frame.rgb)
        mask: torch.Tensor | None = None
        if motion is None or prior is None:
            if staged is None:
                transfers.ready()
            raw = st._first_raw(frame, x)
        elif staged is not None and staged.flow is not None and staged.mask is not None:
            flow, mask = staged.flow, staged.mask
            warped = warp_backward(prior, flow)  # rgb01: outside the image → 0 (black), as the reference
            raw = st.video_step(x, warped, mask, fill_key=(frame.index,))
        else:
            flow = transfers.upload(motion.flow)
            if isinstance(motion, PendingMotion):
                fwd = transfers.upload(motion.flow_fwd)
                other = None if motion.image is None or motion.image is frame.rgb else transfers.upload(motion.image)
                transfers.ready()
                image = None  # the structure term sees frame cur ×255 (float32), as the numpy check
                if motion.image is not None:
                    image = (x if other is None else other) * 255.0
                reliable = consistency_check_t(flow, fwd, image)
            else:
                reliable = transfers.upload(np.asarray(motion.reliable, dtype=np.float32)[..., None])
                transfers.ready()
            mask = self.prepare_mask_t(reliable, flow)
            warped = warp_backward(prior, flow)  # rgb01: outside the image → 0 (black), as the reference
            raw = st.video_step(x, warped, mask, fill_key=(frame.index,))
        raw = raw.float()
        parts = [raw]
        if st.config.median_filter > 1:
            parts.append(median_filter_t(raw, st.config.median_filter))
        images = torch.cat(parts, dim=0).permute(0, 2, 3, 1).contiguous()  # (1 or 2, H, W, 3)
        copies = transfers.download([images] if mask is None else [images, mask[0, 0].contiguous()])
        return PendingFrame(frame, raw, copies, filtered=len(parts) > 1, staged=staged)

    def deliver(self, item: PendingFrame) -> StylizedFrame:
        """Wait for a frame's download; the StylizedFrame (numpy views of the host copies)."""
        from fav_core.stylizer import StylizedFrame  # the stylizer imports this module: no top-level import

        arrays = item.copies.wait()
        raw = arrays[0][0]
        rgb = arrays[0][1] if item.filtered else raw
        mask = arrays[1] if len(arrays) > 1 else None
        out = StylizedFrame(item.frame.index, rgb, raw, item.frame.alpha, mask, item.frame.source)
        self.last = (out, item.raw)
        return out

    def prepare_mask_t(self, reliable: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """``Stylizer.prepare_mask`` on tensors: (1, 1, H, W) reliability before the min filter and (1, 2, H, W)
        flow in, (1, 1, H, W) float32 mask as the net sees it out (same device)."""
        config = self._st.config
        mask = reliable.float()
        if config.invert_occlusion:
            mask = invert_t(mask)
        if config.fix_occlusions:
            mask = fix_occlusions_t(mask, flow)
        return min_filter_t(mask, config.min_filter)

    def prior_tensor(self, prev_out: StylizedFrame, transfers: Transfers) -> torch.Tensor:
        """The previous raw output as a (1, 3, H, W) device tensor: kept from the last frame when ``prev_out`` is
        that frame's output, else uploaded (continue_with / resume / a caller's own prior)."""
        if self.last is not None and self.last[0] is prev_out:
            return self.last[1]
        prior = transfers.upload(prev_out.raw)
        transfers.ready()
        return prior


def check_size(frame: Frame, prev_raw: torch.Tensor) -> None:
    """Raise :class:`ShapeError` when ``frame`` (H, W) differs from the (1, 3, H, W) previous raw output."""
    h, w = int(prev_raw.shape[-2]), int(prev_raw.shape[-1])
    if (h, w) != frame.size:
        raise ShapeError(
            f"{frame.source or frame.index}: frame is {frame.size[1]}x{frame.size[0]} but the previous output "
            f"is {w}x{h}"
        )


@contextmanager
def no_tf32() -> Iterator[None]:
    """cuDNN TF32 convolutions off for the duration (the process-wide flag is restored afterwards)."""
    old = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = old
