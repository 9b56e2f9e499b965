"""Fast inference for a :class:`~fav_core.nets.TransformerNet`: the path ``fav stylize`` runs the nets on.

:class:`InferenceEngine` wraps a built (and loaded) network and runs it in eval mode under
``torch.inference_mode`` on a device/precision, with a rewritten but mathematically identical body:

* **Polyphase up-convolution.** Every ``U2 → [norm] → [ReLU] → conv k×k (stride 1, zero pad (k−1)/2)`` run of the
  body (the paper arch has two: ``U2,c3s1-64`` and ``U2,c9s1-3``) is computed at the *low* resolution: the
  instance norm of a nearest-upsampled map has the same per-channel mean and (biased) variance as the map
  itself, ReLU and affine norms commute with nearest upsampling, and a k×k conv of a nearest ×2 upsampled map is
  four k'×k' convs of the map (one per output phase, k' = 2·⌈p/2⌉+1 for p = (k−1)/2, the taps that land on the
  same source pixel summed), stacked as one conv with 4·C_out outputs and interleaved with ``pixel_shuffle``.
  Zero padding p at the high resolution is exactly zero padding ⌈p/2⌉ at the low one. For the final 9×9 64→3
  conv this is a 5×5 64→12 conv on a quarter of the pixels (3.2× fewer multiply-adds, and it also skips the
  full-resolution upsample, norm and ReLU of a 64-channel map): about 10× faster on the project CPU.
  The result differs from the eager network only by float rounding (summation order), see ``tests``.
* eval mode and ``torch.inference_mode``; fp16/bf16 under autocast (as the stylizer did before);
* optional thread count (``torch.set_num_threads``, process-wide) and optional ``channels_last``;
* optional ``torch.compile`` (inductor) with a **persistent** compile cache under
  ``$XDG_CACHE_HOME/fav/compile`` (default ``~/.cache/fav/compile``), so later runs load the compiled
  graph instead of recompiling it. Off by default; see ``bench/RESULTS.md`` for the measured trade-off.

Convention:
    Inputs and outputs are exactly those of ``TransformerNet.forward``: (B, in_channels, H, W) pre-space in,
    (B, 3, H, W) pre-space out, any H, W (the net's own padding/cropping rules are reused).
    The engine snapshots the derived (polyphase) weights when it is built: rebuild it after changing the
    net's weights.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from fav_core.errors import ConfigError, ShapeError
from fav_core.nets.padding import pad_amounts, pad_frame
from fav_core.nets.transformer import TransformerNet

log = logging.getLogger(__name__)

#: Modules that commute with nearest ×2 upsampling (per-channel affine, pointwise, or per-instance statistics).
_COMMUTING = (nn.InstanceNorm2d, nn.BatchNorm2d, nn.ReLU, nn.Identity)


@dataclass(frozen=True)
class EngineOptions:
    """How the engine runs the network (none of these change the result beyond float rounding).

    Attributes:
        threads: intra-op CPU threads (``torch.set_num_threads``; process-wide); None = leave torch's setting.
        compile: wrap the forward in ``torch.compile`` (inductor) with a persistent cache.
        channels_last: run convolutions on NHWC tensors (measured slower on the project CPU; default off).
        fast_convs: use the polyphase up-convolution rewrite (default on).
        cache_dir: compile cache folder; None = ``$XDG_CACHE_HOME/fav/compile`` (``~/.cache/fav/compile``).
    """

    threads: int | None = None
    compile: bool = False
    channels_last: bool = False
    fast_convs: bool = True
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        if self.threads is not None and (
            isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1
        ):
            raise ConfigError(f"threads must be a positive integer, got {self.threads!r}")


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/fav/compile``, or ``~/.cache/fav/compile`` when XDG_CACHE_HOME is unset."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fav" / "compile"


def polyphase_weights(weight: torch.Tensor, bias: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Weights of the low-resolution conv equal to a k×k conv (zero pad (k−1)/2) of a nearest ×2 upsampled map.

    Args:
        weight: (C_out, C_in, k, k) conv weight, k odd.
        bias: (C_out,) or None.

    Returns:
        (weight', bias', pad'): weight' is (4·C_out, C_in, k', k') with k' = 2·pad' + 1, pad' = ⌈p/2⌉,
        p = (k−1)/2; bias' is (4·C_out,). Output channel ``4·c + 2·a + b`` is output channel c at the
        high-resolution pixel (2i + a, 2j + b), i.e. the layout ``F.pixel_shuffle(·, 2)`` expects.

    Convention:
        High-res output row Y = 2i + a reads upsampled row Y + ky − p, i.e. low-res row i + ⌊(a + ky − p)/2⌋;
        that row is inside the image exactly when the high-res row is, so zero padding carries over. Taps of
        the same phase that read the same low-res pixel are summed.
    """
    c_out, c_in, k, k2 = weight.shape
    if k != k2 or k % 2 == 0:
        raise ShapeError(f"polyphase conv: expected a square odd kernel, got {k}x{k2}")
    p = (k - 1) // 2
    q = (p + 1) // 2
    kq = 2 * q + 1
    out = torch.zeros(c_out, 2, 2, c_in, kq, kq, dtype=weight.dtype, device=weight.device)
    for a in (0, 1):
        for ky in range(k):
            oy = (a + ky - p) // 2 + q
            for b in (0, 1):
                for kx in range(k):
                    ox = (b + kx - p) // 2 + q
                    out[:, a, b, :, oy, ox] += weight[:, :, ky, kx]
    w = out.reshape(4 * c_out, c_in, kq, kq)
    b = bias if bias is not None else torch.zeros(c_out, dtype=weight.dtype, device=weight.device)
    return w, b.repeat_interleave(4), q


class PolyphaseUpConv(nn.Module):
    """``conv(pre(upsample2(z)))`` computed as ``pixel_shuffle(conv'(pre(z)), 2)`` (see module docstring).

    Args:
        pre: the modules between the upsample and the conv (norms, ReLU); they run at the low resolution.
        conv: the original conv (its weights are copied into the derived polyphase weights now).
        upsample: the original upsample, used for inputs with a single pixel (instance norm needs two).

    Shapes: (B, C_in, h, w) -> (B, C_out, 2h, 2w).
    """

    def __init__(self, pre: list[nn.Module], conv: nn.Conv2d, upsample: nn.Module) -> None:
        super().__init__()
        self.pre = nn.Sequential(*pre)
        self.conv = conv
        self.upsample = upsample
        with torch.no_grad():
            w, b, q = polyphase_weights(conv.weight.detach(), None if conv.bias is None else conv.bias.detach())
        self.register_buffer("weight", w.contiguous(), persistent=False)
        self.register_buffer("bias", b.contiguous(), persistent=False)
        self.pad = q

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Low-resolution norm/ReLU, one conv with 4·C_out outputs, then the ×2 interleave."""
        if z.shape[-1] * z.shape[-2] < 2:  # instance norm needs 2 pixels: the plain path
            return self.conv(self.pre(self.upsample(z)))
        y = self.pre(z)
        return F.pixel_shuffle(F.conv2d(y, self.weight, self.bias, padding=self.pad), 2)


def _is_nearest_up2(m: nn.Module) -> bool:
    if not isinstance(m, nn.Upsample) or m.mode != "nearest" or m.size is not None:
        return False
    s = m.scale_factor
    factors = s if isinstance(s, tuple) else (s, s)
    return all(float(f) == 2.0 for f in factors)


def _is_plain_same_conv(m: nn.Module) -> bool:
    if not isinstance(m, nn.Conv2d) or m.padding_mode != "zeros" or m.groups != 1:
        return False
    k = m.kernel_size
    return (
        k[0] == k[1]
        and k[0] % 2 == 1
        and m.stride == (1, 1)
        and m.dilation == (1, 1)
        and m.padding == ((k[0] - 1) // 2, (k[0] - 1) // 2)
    )


def fast_body(body: nn.Sequential) -> nn.Sequential:
    """A body that shares ``body``'s modules, with every ``U2 → norms/ReLU → same-size conv`` run rewritten
    as a :class:`PolyphaseUpConv`; everything else is kept as it is.

    Args:
        body: ``TransformerNet.body`` (a flat ``nn.Sequential``).

    Returns:
        A new ``nn.Sequential`` computing the same function up to float rounding.
    """
    children = list(body.children())
    out: list[nn.Module] = []
    i = 0
    while i < len(children):
        m = children[i]
        if _is_nearest_up2(m):
            j = i + 1
            while j < len(children) and isinstance(children[j], _COMMUTING):
                j += 1
            if j < len(children) and _is_plain_same_conv(children[j]):
                out.append(PolyphaseUpConv(children[i + 1 : j], children[j], m))  # type: ignore[arg-type]
                i = j + 1
                continue
        out.append(m)
        i += 1
    return nn.Sequential(*out)


class _FastForward(nn.Module):
    """``TransformerNet.forward`` with the rewritten body (same pad / crop / tanh)."""

    def __init__(self, net: TransformerNet, body: nn.Module) -> None:
        super().__init__()
        self.body = body
        self.multiple = net.size_multiple
        self.min_size = net.size_min
        self.shrink = net.size_shrink
        self.tanh_constant = net.tanh_constant

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        top, bottom = pad_amounts(h, self.multiple, self.min_size, self.shrink)
        left, right = pad_amounts(w, self.multiple, self.min_size, self.shrink)
        y = self.body(pad_frame(x, top, bottom, left, right))
        y0, x0 = top - self.shrink, left - self.shrink
        if y0 != 0 or x0 != 0 or y.shape[-2] != h or y.shape[-1] != w:
            y = y[:, :, y0 : y0 + h, x0 : x0 + w]
        return torch.tanh(y) * self.tanh_constant


class InferenceEngine:
    """Runs a :class:`TransformerNet` for inference (see the module docstring for what it does).

    Args:
        net: the network (moved to ``device`` and put in eval mode — the engine owns it for inference).
        device: torch device (or name) to run on.
        precision: ``"fp32"``, ``"fp16"`` (CUDA) or ``"bf16"``: autocast dtype for the convolutions.
        options: :class:`EngineOptions` (default: polyphase convs, no compile, threads untouched).

    Raises:
        ConfigError: unknown precision, or fp16 on a CPU.
    """

    def __init__(
        self,
        net: TransformerNet,
        device: torch.device | str = "cpu",
        precision: str = "fp32",
        options: EngineOptions | None = None,
    ) -> None:
        self.device = torch.device(device)
        if precision not in ("fp32", "fp16", "bf16"):
            raise ConfigError(f"precision must be fp32, fp16 or bf16, got {precision!r}")
        if precision == "fp16" and self.device.type != "cuda":
            raise ConfigError("precision fp16 needs a CUDA device; use fp32 (or bf16) on the CPU")
        self.precision = precision
        self.options = options if options is not None else EngineOptions()
        self.net = net
        self.in_channels = net.in_channels
        if self.options.threads is not None and self.device.type == "cpu":
            torch.set_num_threads(self.options.threads)
        net.to(self.device).eval()
        body = fast_body(net.body) if self.options.fast_convs else net.body
        module: nn.Module = _FastForward(net, body).to(self.device).eval()
        if self.options.channels_last:
            module = module.to(memory_format=torch.channels_last)
        self._module = module
        self._run: Callable[[torch.Tensor], torch.Tensor] = module
        if self.options.compile:
            self._run = _compiled(module, self.options.cache_dir)

    @property
    def rewritten(self) -> int:
        """How many upsample+conv runs the polyphase rewrite replaced."""
        return sum(isinstance(m, PolyphaseUpConv) for m in self._module.modules())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Stylize a batch: (B, in_channels, H, W) pre-space -> (B, 3, H, W) fp32 pre-space.

        Raises:
            ShapeError: ``x`` is not (B, in_channels, H, W).
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ShapeError(f"network input: expected (B, {self.in_channels}, H, W), got {list(x.shape)}")
        with torch.inference_mode():
            x = x.to(self.device)
            if self.options.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            if self.precision == "fp32":
                y = self._call(x)
            else:
                dtype = torch.float16 if self.precision == "fp16" else torch.bfloat16
                with torch.autocast(self.device.type, dtype=dtype):
                    y = self._call(x)
            return y.float().contiguous()

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        """The compiled forward when there is one; if compiling fails (no C++ compiler, unsupported op, ...)
        a warning is logged and this engine runs uncompiled from then on (same results)."""
        if self._run is self._module:
            return self._module(x)
        try:
            return self._run(x)
        except Exception as exc:  # noqa: BLE001 - any compiler failure: fall back to the eager module
            if is_out_of_memory(exc):
                raise
            log.warning("torch.compile failed (%s: %s); running the network uncompiled",
                        type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
            self._run = self._module
            return self._module(x)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for torch's out-of-memory errors (CUDA, MPS or CPU allocation failures)."""
    oom = getattr(torch, "OutOfMemoryError", None)
    return (oom is not None and isinstance(exc, oom)) or "out of memory" in str(exc).lower()


def _torch_default_cache_dir() -> str:
    """Inductor's own default cache folder (``/tmp/torchinductor_<user>``), or "" if torch does not say."""
    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir as torch_default
    except ImportError:
        return ""
    return os.path.abspath(torch_default())


def _compiled(module: nn.Module, cache_dir: str | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """``torch.compile(module)`` with inductor's FX-graph cache in a persistent per-user folder.

    The folder is handed to inductor through ``TORCHINDUCTOR_CACHE_DIR`` (inductor reads only that; it is
    process-wide): an explicit ``cache_dir`` always, else :func:`default_cache_dir` unless the variable holds
    a folder of the user's own (torch writes its /tmp default into the variable the first time any of its
    Python kernels asks, e.g. a meta-device forward, so that value does not count as the user's).
    """
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot create the compile cache folder ({exc.strerror})") from exc
    current = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if cache_dir is not None or current is None or os.path.abspath(current) == _torch_default_cache_dir():
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)
    log.info("torch.compile with the compile cache in %s", os.environ["TORCHINDUCTOR_CACHE_DIR"])
    return torch.compile(module, dynamic=False)  # type: ignore[return-value]
