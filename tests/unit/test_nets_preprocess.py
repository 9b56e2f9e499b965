"""Model pre/deprocessing (algorithm.md §2)."""
from __future__ import annotations

import pytest
import torch

from fav_core.errors import ConfigError, ShapeError
from fav_core.nets import RESNET_MEAN_RGB, RESNET_STD_RGB, VGG_MEAN_BGR, VGG_MEAN_RGB, deprocess, preprocess


def _pixel(r: float, g: float, b: float) -> torch.Tensor:
    return torch.tensor([r, g, b], dtype=torch.float32).view(1, 3, 1, 1)


class TestPreprocess:
    def test_constants(self) -> None:
        assert VGG_MEAN_BGR == (103.939, 116.779, 123.68)
        assert VGG_MEAN_RGB == tuple(reversed(VGG_MEAN_BGR))
        assert RESNET_MEAN_RGB == (0.485, 0.456, 0.406)
        assert RESNET_STD_RGB == (0.229, 0.224, 0.225)

    def test_vgg_exact_values(self) -> None:
        out = preprocess(_pixel(0.5, 0.25, 1.0), "vgg")
        # channel 0 = B, 1 = G, 2 = R; ×255 minus the BGR mean
        expected = torch.tensor([255.0 - 103.939, 63.75 - 116.779, 127.5 - 123.68]).view(1, 3, 1, 1)
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-4)

    def test_vgg_black_is_minus_mean_and_no_clamp(self) -> None:
        out = preprocess(_pixel(0.0, 0.0, 0.0))
        torch.testing.assert_close(out.flatten(), -torch.tensor(VGG_MEAN_BGR), rtol=0, atol=1e-5)
        out = preprocess(_pixel(2.0, -1.0, 0.0))  # out-of-range values are kept
        torch.testing.assert_close(out.flatten(), torch.tensor([-103.939, -255 - 116.779, 510 - 123.68]))

    def test_resnet_exact_values(self) -> None:
        out = preprocess(_pixel(0.485, 0.456 + 0.224, 0.406 - 2 * 0.225), "resnet")
        torch.testing.assert_close(out.flatten(), torch.tensor([0.0, 1.0, -2.0]), rtol=0, atol=1e-6)

    def test_vgg_deprocess_exact(self) -> None:
        rgb = deprocess(torch.zeros(1, 3, 1, 1), "vgg")  # zero pre-space = the VGG mean colour
        torch.testing.assert_close(rgb.flatten(), torch.tensor(VGG_MEAN_RGB) / 255.0)

    @pytest.mark.parametrize("kind", ["vgg", "resnet"])
    def test_round_trip(self, kind: str) -> None:
        x = torch.rand(2, 3, 5, 7) * 1.4 - 0.2
        torch.testing.assert_close(deprocess(preprocess(x, kind), kind), x, rtol=0, atol=1e-5)
        y = torch.randn(2, 3, 4, 3) * 50
        torch.testing.assert_close(preprocess(deprocess(y, kind), kind), y, rtol=0, atol=1e-3)

    @pytest.mark.parametrize("kind", ["vgg", "resnet"])
    def test_not_in_place(self, kind: str) -> None:
        x = torch.rand(1, 3, 4, 4)
        before = x.clone()
        preprocess(x, kind)
        deprocess(x, kind)
        assert torch.equal(x, before)

    def test_keeps_dtype(self) -> None:
        assert preprocess(torch.rand(1, 3, 2, 2, dtype=torch.float64)).dtype == torch.float64

    def test_exception_shape(self) -> None:
        with pytest.raises(ShapeError, match=r"rgb01: expected \(B, 3, H, W\), got \(1, 4, 2, 2\)"):
            preprocess(torch.rand(1, 4, 2, 2))
        with pytest.raises(ShapeError):
            deprocess(torch.rand(3, 2, 2))

    def test_exception_kind_and_dtype(self) -> None:
        with pytest.raises(ConfigError, match="unknown preprocessing 'caffe'"):
            preprocess(torch.rand(1, 3, 2, 2), "caffe")
        with pytest.raises(ConfigError, match="floating point"):
            preprocess(torch.zeros(1, 3, 2, 2, dtype=torch.uint8))
