from __future__ import annotations

import numpy as np
import pytest

from fav_core.errors import ConfigError, ShapeError
from fav_core.flow import HostVectors, vectors_from_channels

H, W = 8, 10


def _blender(prefix: str = "ViewLayer.", x: float = -2.0, y: float = 1.0, z: float = -2.0, w: float = 1.0):
    return {
        f"{prefix}Vector.X": np.full((H, W), x, np.float32),
        f"{prefix}Vector.Y": np.full((H, W), y, np.float32),
        f"{prefix}Vector.Z": np.full((H, W), z, np.float32),
        f"{prefix}Vector.W": np.full((H, W), w, np.float32),
        f"{prefix}Combined.R": np.zeros((H, W), np.float32),
    }


class TestBlender:
    def test_smoke(self) -> None:
        hv = vectors_from_channels(_blender())
        assert isinstance(hv, HostVectors) and hv.convention == "blender"
        assert hv.flow_to_prev is not None and hv.flow_to_next is not None
        assert hv.flow_to_prev[3, 4].tolist() == [-2.0, -1.0]  # (X, -Y)
        assert hv.flow_to_next[3, 4].tolist() == [2.0, 1.0]  # (-Z, +W)
        assert hv.valid.dtype == bool and hv.valid.all()

    def test_no_prefix_and_old_layer_name(self) -> None:
        assert vectors_from_channels(_blender(prefix="")) is not None
        assert vectors_from_channels(_blender(prefix="View Layer.")) is not None

    def test_world_pixels_invalid_and_eroded(self) -> None:
        ch = _blender()
        depth = np.full((H, W), 5.0, np.float32)
        depth[:, 7:] = 1e10  # Cycles world
        ch["ViewLayer.Depth.Z"] = depth
        hv = vectors_from_channels(ch, erode=1)
        assert hv is not None
        expected = np.ones((H, W), bool)
        expected[:, 6:] = False  # world columns 7.. plus one eroded column
        np.testing.assert_array_equal(hv.valid, expected)
        hv0 = vectors_from_channels(ch, erode=0)
        assert hv0 is not None and hv0.valid[:, :7].all() and not hv0.valid[:, 7:].any()

    def test_non_finite_and_edges(self) -> None:
        ch = _blender(x=0.0, y=0.0, z=0.0, w=0.0)
        ch["ViewLayer.Vector.X"][2, 2] = np.nan
        ch["ViewLayer.Vector.Z"][6, 3:5] = 5.0  # a moving 1x2 patch: vector jump of 5 px
        hv = vectors_from_channels(ch, erode=0, edge_threshold=1.0)
        assert hv is not None
        invalid = np.argwhere(~hv.valid).tolist()
        assert [2, 2] in invalid
        # the patch and its 4-neighbours across the jump are edges
        for yx in ([6, 3], [6, 4], [6, 2], [6, 5], [5, 3], [7, 4]):
            assert yx in invalid
        assert len(invalid) == 1 + 8

    def test_only_backward_half(self) -> None:
        ch = {k: v for k, v in _blender().items() if k[-1] in "XY"}
        hv = vectors_from_channels(ch)
        assert hv is not None and hv.flow_to_next is None and hv.flow_to_prev is not None

    def test_layers(self) -> None:
        ch = {**_blender("A."), **_blender("B.", x=7.0)}
        with pytest.raises(ConfigError, match="several Vector layers"):
            vectors_from_channels(ch)
        hv = vectors_from_channels(ch, layer="B")
        assert hv is not None and hv.flow_to_prev is not None and hv.flow_to_prev[0, 0, 0] == 7.0
        with pytest.raises(ConfigError, match="no Vector channels in layer 'C'"):
            vectors_from_channels(ch, layer="C")


class TestNuke:
    def test_smoke(self) -> None:
        ch = {
            "rgba.red": np.zeros((H, W), np.float32),
            "backward.u": np.full((H, W), 3.0, np.float32),
            "backward.v": np.full((H, W), 2.0, np.float32),
            "forward.u": np.full((H, W), -3.0, np.float32),
            "forward.v": np.full((H, W), -2.0, np.float32),
        }
        hv = vectors_from_channels(ch)
        assert hv is not None and hv.convention == "nuke"
        assert hv.flow_to_prev is not None and hv.flow_to_prev[0, 0].tolist() == [3.0, -2.0]
        assert hv.flow_to_next is not None and hv.flow_to_next[0, 0].tolist() == [-3.0, 2.0]
        assert hv.valid.all()

    def test_forward_only(self) -> None:
        ch = {"forward.u": np.ones((H, W), np.float32), "forward.v": np.ones((H, W), np.float32)}
        hv = vectors_from_channels(ch, convention="nuke")
        assert hv is not None and hv.flow_to_prev is None and hv.flow_to_next is not None


class TestSelection:
    def test_none_when_no_vectors(self) -> None:
        assert vectors_from_channels({"R": np.zeros((2, 2)), "motion.u": np.zeros((2, 2))}) is None
        assert vectors_from_channels(_blender(), convention="nuke") is None

    def test_incomplete_pair_is_none(self) -> None:
        assert vectors_from_channels({"backward.u": np.zeros((2, 2), np.float32)}) is None

    def test_exception(self) -> None:
        both = {**_blender(), "backward.u": np.zeros((H, W)), "backward.v": np.zeros((H, W))}
        with pytest.raises(ConfigError, match="pass convention="):
            vectors_from_channels(both)
        hv = vectors_from_channels(both, convention="blender")
        assert hv is not None and hv.convention == "blender"
        with pytest.raises(ConfigError, match="convention 'maya'"):
            vectors_from_channels(both, convention="maya")
        bad = _blender()
        bad["ViewLayer.Vector.W"] = np.zeros((H, W + 1), np.float32)
        with pytest.raises(ShapeError):
            vectors_from_channels(bad)
