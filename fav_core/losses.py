"""Perceptual, style and total-variation losses; every loss returns ``(loss, metrics)``.

Reference definitions (algorithm.md §10.5, §10.6; fast-neural-style):

- Gram: ``G = F Fᵀ / (C·H·W)`` per sample, ``F`` = (C, H·W).
- content: ``w · mean((φ(y) − φ(c))²)`` over N·C·H·W (size-averaged MSE), summed over content layers.
- style: ``Σ_l w_l · mean((G_l(y) − G_l(s))²)`` over N·C·C, style target from one image broadcast to the batch;
  ``mean`` target type: per-channel spatial means instead of Grams (MSE over N·C).
- TV: ``strength · ½ Σ_{n,c} Σ_{i<H−1, j<W−1} [(x_{i,j} − x_{i,j+1})² + (x_{i,j} − x_{i+1,j})²]`` (sums; both terms
  over the first H−1 rows and W−1 columns). The reference adds only its gradient; here it is a differentiable value.

Offline (relative) definitions for the random loss networks (shared/reference/offline_loss.md), per block and
averaged over blocks, each relative error ``‖a − b‖² / ‖b‖²`` computed per sample and averaged over the batch:

- style: ``gram_weight · rel(G_y, G_s) + moment_weight · (rel(m_y, m_s) + rel(Σ_y, Σ_s))`` with the uncentred Gram
  ``G``, channel means ``m`` and covariance ``Σ = F Fᵀ/(H·W) − m mᵀ``; weights 2 and 2 by default.
- content: ``weight · mean over content blocks of rel(φ(y), φ(c))``.

``metrics`` holds plain floats (detached) for logging; the returned loss keeps the autograd graph.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from fav_core.errors import ConfigError, check_shape

STYLE_TARGET_TYPES: tuple[str, ...] = ("gram", "mean")
#: Added to denominators of relative errors so an all-zero target does not divide by zero.
REL_EPS = 1e-8


def gram_matrix(f: torch.Tensor) -> torch.Tensor:
    """Normalised Gram matrices.

    Args:
        f: (B, C, H, W) features.

    Returns:
        (B, C, C): ``F Fᵀ / (C·H·W)`` per sample.
    """
    dims = check_shape(f, "B C H W", "features")
    flat = f.reshape(dims["B"], dims["C"], dims["H"] * dims["W"])
    return flat @ flat.transpose(1, 2) / float(dims["C"] * dims["H"] * dims["W"])


def channel_means(f: torch.Tensor) -> torch.Tensor:
    """Per-channel spatial means: (B, C, H, W) -> (B, C)."""
    check_shape(f, "B C H W", "features")
    return f.mean(dim=(2, 3))


def covariance(f: torch.Tensor) -> torch.Tensor:
    """Per-sample channel covariance ``F Fᵀ/(H·W) − m mᵀ``: (B, C, H, W) -> (B, C, C)."""
    dims = check_shape(f, "B C H W", "features")
    flat = f.reshape(dims["B"], dims["C"], dims["H"] * dims["W"])
    m = flat.mean(dim=2)
    return flat @ flat.transpose(1, 2) / float(dims["H"] * dims["W"]) - m.unsqueeze(2) * m.unsqueeze(1)


def _weights(weights: float | Sequence[float], layers: Sequence[str], what: str) -> list[float]:
    if isinstance(weights, (int, float)):
        return [float(weights)] * len(layers)
    out = [float(w) for w in weights]
    if len(out) == 1:
        return out * len(layers)
    if len(out) != len(layers):
        raise ConfigError(f"{what}: {len(out)} weights for {len(layers)} layers")
    return out


def _zero(like: Mapping[str, torch.Tensor]) -> torch.Tensor:
    t = next(iter(like.values()))
    return t.new_zeros(())


def content_loss(
    features: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    layers: Sequence[str],
    weights: float | Sequence[float] = 1.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Reference content loss: ``Σ_l w_l · mean((φ_l(y) − φ_l(c))²)``.

    Args:
        features: layer -> (B, C, H, W) features of the output.
        targets: layer -> (B, C, H, W) features of the content images (treated as constants).
        layers: content layer names.
        weights: one weight, or one per layer.

    Returns:
        (scalar loss, {"content": total, "content/<layer>": weighted term}).
    """
    ws = _weights(weights, layers, "content_weights")
    total = _zero(features)
    metrics: dict[str, float] = {}
    for name, w in zip(layers, ws, strict=True):
        y, c = features[name], targets[name].detach()
        if y.shape != c.shape:
            raise ConfigError(f"content layer {name}: output {tuple(y.shape)} vs target {tuple(c.shape)}")
        term = w * torch.mean((y - c) ** 2)
        metrics[f"content/{name}"] = float(term.detach())
        total = total + term
    metrics["content"] = float(total.detach())
    return total, metrics


def style_targets(
    features: Mapping[str, torch.Tensor], layers: Sequence[str], target_type: str = "gram"
) -> dict[str, torch.Tensor]:
    """Style statistics of the style image(s): layer -> (1, C, C) Gram or (1, C) means (averaged over the batch)."""
    if target_type not in STYLE_TARGET_TYPES:
        raise ConfigError(f"style target type must be one of {STYLE_TARGET_TYPES}, got {target_type!r}")
    stat = gram_matrix if target_type == "gram" else channel_means
    return {name: stat(features[name]).detach().mean(dim=0, keepdim=True) for name in layers}


def style_loss(
    features: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    layers: Sequence[str],
    weights: float | Sequence[float] = 1.0,
    target_type: str = "gram",
) -> tuple[torch.Tensor, dict[str, float]]:
    """Reference style loss: ``Σ_l w_l · mean((G_l(y) − G_l(s))²)``, target broadcast over the batch.

    Args:
        features: layer -> (B, C, H, W) features of the output.
        targets: layer -> (1, C, C) Gram (or (1, C) means) from :func:`style_targets`.
        layers: style layer names.
        weights: one weight, or one per layer.
        target_type: ``"gram"`` or ``"mean"``.

    Returns:
        (scalar loss, {"style": total, "style/<layer>": weighted term}).
    """
    if target_type not in STYLE_TARGET_TYPES:
        raise ConfigError(f"style target type must be one of {STYLE_TARGET_TYPES}, got {target_type!r}")
    stat = gram_matrix if target_type == "gram" else channel_means
    ws = _weights(weights, layers, "style_weights")
    total = _zero(features)
    metrics: dict[str, float] = {}
    for name, w in zip(layers, ws, strict=True):
        g = stat(features[name])
        t = targets[name].detach().to(dtype=g.dtype)
        if t.shape[1:] != g.shape[1:]:
            raise ConfigError(f"style layer {name}: output statistic {tuple(g.shape)} vs target {tuple(t.shape)}")
        term = w * torch.mean((g - t.expand_as(g)) ** 2)
        metrics[f"style/{name}"] = float(term.detach())
        total = total + term
    metrics["style"] = float(total.detach())
    return total, metrics


def tv_loss(x: torch.Tensor, strength: float = 1.0) -> tuple[torch.Tensor, dict[str, float]]:
    """Total variation exactly as the reference's TotalVariation module (algorithm.md §10.6), as a value.

    Args:
        x: (B, C, H, W) image (the reference applies it to the model output in pre-space).
        strength: ``tv_strength`` (reference default 1e-6).

    Returns:
        (scalar ``strength · ½ Σ [(x_{i,j} − x_{i,j+1})² + (x_{i,j} − x_{i+1,j})²]`` over i < H−1, j < W−1,
        {"tv": value}).
    """
    check_shape(x, "B C H W", "image")
    core = x[:, :, :-1, :-1]
    dx = core - x[:, :, :-1, 1:]
    dy = core - x[:, :, 1:, :-1]
    value = strength * 0.5 * (dx.pow(2).sum() + dy.pow(2).sum())
    return value, {"tv": float(value.detach())}


def relative_error(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``‖a − b‖² / ‖b‖²`` per sample (first dim), averaged over the batch; ``b`` broadcasts over the batch."""
    b = b.expand_as(a)
    num = (a - b).pow(2).flatten(1).sum(dim=1)
    den = b.pow(2).flatten(1).sum(dim=1) + REL_EPS
    return (num / den).mean()


@dataclass(frozen=True)
class MomentTargets:
    """Style statistics of one block for the offline loss: Gram (1, C, C), means (1, C), covariance (1, C, C)."""

    gram: torch.Tensor
    mean: torch.Tensor
    cov: torch.Tensor


def moment_targets(features: Mapping[str, torch.Tensor], layers: Sequence[str]) -> dict[str, MomentTargets]:
    """Offline style targets per block, averaged over the style batch (constants, detached)."""
    out: dict[str, MomentTargets] = {}
    for name in layers:
        f = features[name].detach()
        out[name] = MomentTargets(
            gram=gram_matrix(f).mean(dim=0, keepdim=True),
            mean=channel_means(f).mean(dim=0, keepdim=True),
            cov=covariance(f).mean(dim=0, keepdim=True),
        )
    return out


def offline_style_loss(
    features: Mapping[str, torch.Tensor],
    targets: Mapping[str, MomentTargets],
    layers: Sequence[str],
    gram_weight: float = 2.0,
    moment_weight: float = 2.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Relative Gram + mean/covariance style loss averaged over blocks (offline_loss.md).

    Returns:
        (scalar loss, {"style": total, "style_gram": mean relative Gram error, "style_moments": mean relative
        mean+cov error}).
    """
    if not layers:
        raise ConfigError("offline style loss needs at least one layer")
    total = _zero(features)
    gram_sum = 0.0
    moment_sum = 0.0
    for name in layers:
        f, t = features[name], targets[name]
        gram, means = gram_matrix(f), channel_means(f)
        # covariance(f) from the same F Fᵀ: F Fᵀ/(H·W) = C · gram (one batched matmul per layer instead of two)
        cov = gram * float(f.shape[1]) - means.unsqueeze(2) * means.unsqueeze(1)
        g_err = relative_error(gram, t.gram.to(f.dtype))
        m_err = relative_error(means, t.mean.to(f.dtype)) + relative_error(cov, t.cov.to(f.dtype))
        total = total + gram_weight * g_err + moment_weight * m_err
        gram_sum += float(g_err.detach())
        moment_sum += float(m_err.detach())
    n = len(layers)
    total = total / n
    return total, {"style": float(total.detach()), "style_gram": gram_sum / n, "style_moments": moment_sum / n}


def offline_content_loss(
    features: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    layers: Sequence[str],
    weight: float = 1.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Relative feature error on coarse blocks: ``weight · mean_l rel(φ_l(y), φ_l(c))`` (offline_loss.md)."""
    if not layers:
        raise ConfigError("offline content loss needs at least one layer")
    total = _zero(features)
    for name in layers:
        y, c = features[name], targets[name].detach()
        if y.shape != c.shape:
            raise ConfigError(f"content block {name}: output {tuple(y.shape)} vs target {tuple(c.shape)}")
        total = total + relative_error(y, c)
    total = weight * total / len(layers)
    return total, {"content": float(total.detach())}
