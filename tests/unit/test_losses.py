"""Exact-value tests of fav_core.losses on tiny hand-made tensors."""
from __future__ import annotations

import pytest
import torch

from fav_core.errors import ConfigError, ShapeError
from fav_core.losses import (
    channel_means,
    content_loss,
    covariance,
    gram_matrix,
    moment_targets,
    offline_content_loss,
    offline_style_loss,
    relative_error,
    style_loss,
    style_targets,
    tv_loss,
)


def _two_channel() -> torch.Tensor:
    # (1, 2, 1, 2): channel 0 = [1, 2], channel 1 = [3, 4]
    return torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])


class TestGram:
    def test_feature(self) -> None:
        g = gram_matrix(_two_channel())
        # F Fᵀ = [[5, 11], [11, 25]], divided by C·H·W = 2·1·2 = 4
        torch.testing.assert_close(g, torch.tensor([[[1.25, 2.75], [2.75, 6.25]]]))

    def test_single_channel(self) -> None:
        f = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
        assert gram_matrix(f).item() == pytest.approx(30.0 / 4.0)

    def test_exception(self) -> None:
        with pytest.raises(ShapeError):
            gram_matrix(torch.zeros(2, 3, 4))

    def test_means_and_covariance(self) -> None:
        f = _two_channel()
        torch.testing.assert_close(channel_means(f), torch.tensor([[1.5, 3.5]]))
        # second moment [[2.5, 5.5], [5.5, 12.5]] minus m mᵀ [[2.25, 5.25], [5.25, 12.25]]
        torch.testing.assert_close(covariance(f), torch.full((1, 2, 2), 0.25))


class TestContentLoss:
    def test_feature(self) -> None:
        y = {"a": torch.ones(1, 1, 2, 2), "b": torch.full((1, 2, 1, 1), 3.0)}
        c = {"a": torch.zeros(1, 1, 2, 2), "b": torch.ones(1, 2, 1, 1)}
        loss, metrics = content_loss(y, c, ["a", "b"], [2.0, 0.5])
        # 2·mean(1) + 0.5·mean(4) = 2 + 2
        assert loss.item() == pytest.approx(4.0)
        assert metrics == {"content/a": 2.0, "content/b": 2.0, "content": 4.0}

    def test_gradient_only_to_output(self) -> None:
        y = torch.zeros(1, 1, 2, 2, requires_grad=True)
        c = torch.ones(1, 1, 2, 2, requires_grad=True)
        loss, _ = content_loss({"a": y}, {"a": c}, ["a"])
        loss.backward()
        torch.testing.assert_close(y.grad, torch.full((1, 1, 2, 2), -0.5))  # d/dy mean((y-1)²) = 2(y-1)/4
        assert c.grad is None

    def test_exception(self) -> None:
        with pytest.raises(ConfigError):
            content_loss({"a": torch.ones(1, 1, 2, 2)}, {"a": torch.ones(1, 1, 2, 3)}, ["a"])
        with pytest.raises(ConfigError):
            content_loss({"a": torch.ones(1, 1, 2, 2)}, {"a": torch.ones(1, 1, 2, 2)}, ["a"], [1.0, 2.0])


class TestStyleLoss:
    def test_gram_broadcast_over_batch(self) -> None:
        f = _two_channel()
        targets = style_targets({"a": torch.zeros(1, 2, 1, 2)}, ["a"])
        batch = torch.cat([f, f])
        loss, metrics = style_loss({"a": batch}, targets, ["a"], 3.0)
        expected = 3.0 * (1.25**2 + 2 * 2.75**2 + 6.25**2) / 4.0
        assert loss.item() == pytest.approx(expected)
        assert metrics["style/a"] == pytest.approx(expected)

    def test_target_is_style_gram(self) -> None:
        f = _two_channel()
        targets = style_targets({"a": f}, ["a"])
        torch.testing.assert_close(targets["a"], gram_matrix(f))
        loss, _ = style_loss({"a": f}, targets, ["a"])
        assert loss.item() == 0.0

    def test_mean_target(self) -> None:
        targets = {"a": torch.tensor([[0.5, 3.5]])}
        loss, _ = style_loss({"a": _two_channel()}, targets, ["a"], 1.0, target_type="mean")
        assert loss.item() == pytest.approx(0.5)  # ((1.5-0.5)² + 0²) / 2

    def test_exception(self) -> None:
        with pytest.raises(ConfigError):
            style_targets({"a": _two_channel()}, ["a"], "histogram")
        with pytest.raises(ConfigError):
            style_loss({"a": _two_channel()}, {"a": torch.zeros(1, 3, 3)}, ["a"])


class TestTV:
    def test_reference_formula(self) -> None:
        x = torch.tensor([[[[0.0, 1.0, 3.0], [2.0, 2.0, 7.0]]]])
        loss, metrics = tv_loss(x, strength=2.0)
        # i < H-1 = 1, j < W-1 = 2: horizontal (0-1)²+(1-3)² = 5, vertical (0-2)²+(1-2)² = 5; the last column's
        # vertical difference (3-7) is not counted, as in the reference.
        assert loss.item() == pytest.approx(2.0 * 0.5 * 10.0)
        assert metrics["tv"] == pytest.approx(10.0)

    def test_gradient(self) -> None:
        x = torch.tensor([[[[0.0, 1.0], [2.0, 5.0]]]], requires_grad=True)
        loss, _ = tv_loss(x)
        loss.backward()
        # only x00 has both neighbours in range: 0.5·((x00-x01)² + (x00-x10)²)
        torch.testing.assert_close(x.grad, torch.tensor([[[[-3.0, 1.0], [2.0, 0.0]]]]))

    def test_constant_image(self) -> None:
        assert tv_loss(torch.full((2, 3, 4, 5), 7.0))[0].item() == 0.0


class TestOffline:
    def test_relative_error(self) -> None:
        a = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
        b = torch.tensor([[1.0, 1.0]])
        # sample 0: 1/2, sample 1: 2/2 -> mean 0.75
        assert relative_error(a, b).item() == pytest.approx(0.75, rel=1e-6)

    def test_style_zero_at_target(self) -> None:
        f = torch.rand(1, 4, 3, 5)
        t = moment_targets({"a": f, "b": f * 2}, ["a", "b"])
        loss, metrics = offline_style_loss({"a": f, "b": f * 2}, t, ["a", "b"])
        assert loss.item() == pytest.approx(0.0, abs=1e-6)
        assert metrics["style_gram"] == pytest.approx(0.0, abs=1e-6)

    def test_style_value(self) -> None:
        f = _two_channel()
        t = moment_targets({"a": f}, ["a"])
        y = f * 2  # Gram ×4 -> rel 9; means ×2 -> rel 1; covariance ×4 -> rel 9
        loss, metrics = offline_style_loss({"a": y}, t, ["a"], gram_weight=2.0, moment_weight=2.0)
        assert metrics["style_gram"] == pytest.approx(9.0, rel=1e-5)
        assert metrics["style_moments"] == pytest.approx(10.0, rel=1e-5)
        assert loss.item() == pytest.approx(2 * 9 + 2 * 10, rel=1e-5)

    def test_content(self) -> None:
        c = torch.rand(2, 3, 4, 4) + 0.1
        loss, metrics = offline_content_loss({"a": 2 * c, "b": c}, {"a": c, "b": c}, ["a", "b"], weight=3.0)
        assert loss.item() == pytest.approx(3.0 * (1.0 + 0.0) / 2, rel=1e-5)
        assert metrics["content"] == pytest.approx(loss.item())

    def test_exception(self) -> None:
        with pytest.raises(ConfigError):
            offline_content_loss({"a": torch.ones(1, 1, 2, 2)}, {"a": torch.ones(1, 1, 2, 2)}, [])


def test_offline_style_loss_equals_the_two_matmul_formulation() -> None:
    """The loss derives the covariance from the Gram matrix; value and gradient equal covariance(f) itself."""
    from fav_core.losses import channel_means, covariance, gram_matrix

    torch.manual_seed(0)
    feats = {"a": torch.rand(2, 5, 6, 7, dtype=torch.float64), "b": torch.rand(2, 3, 4, 4, dtype=torch.float64)}
    targets = moment_targets({k: torch.rand_like(v) for k, v in feats.items()}, ["a", "b"])
    y = {k: v.clone().requires_grad_(True) for k, v in feats.items()}
    loss, _ = offline_style_loss(y, targets, ["a", "b"])
    loss.backward()
    y2 = {k: v.clone().requires_grad_(True) for k, v in feats.items()}
    ref = y2["a"].new_zeros(())
    for name in ("a", "b"):
        f, t = y2[name], targets[name]
        ref = ref + 2.0 * relative_error(gram_matrix(f), t.gram.to(f.dtype)) + 2.0 * (
            relative_error(channel_means(f), t.mean.to(f.dtype)) + relative_error(covariance(f), t.cov.to(f.dtype)))
    ref = ref / 2
    ref.backward()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-12)
    for k in feats:
        torch.testing.assert_close(y[k].grad, y2[k].grad, rtol=1e-10, atol=1e-12)
