"""fav_core.transfer_torch on the CPU: uploads transpose (H, W, C) -> (1, C, H, W), downloads come back whole."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fav_core.errors import ShapeError
from fav_core.transfer_torch import Transfers


def test_upload_transposes_and_copies() -> None:
    tr = Transfers(torch.device("cpu"))
    a = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)
    t = tr.upload(a)
    tr.ready()
    assert t.shape == (1, 4, 2, 3) and t.dtype == torch.float32 and t.is_contiguous()
    np.testing.assert_array_equal(t[0].permute(1, 2, 0).numpy(), a.astype(np.float32))
    a[0, 0, 0] = 99.0
    assert t[0, 0, 0, 0].item() == 0.0  # not a view of the caller's array
    mask = np.zeros((3, 4, 1), np.float32)  # one channel: the transpose alone would be a view
    m = tr.upload(mask)
    mask[0, 0, 0] = 1.0
    assert m.shape == (1, 1, 3, 4) and m.max().item() == 0.0


def test_download_round_trip_and_shape_error() -> None:
    tr = Transfers(torch.device("cpu"), side_streams=False)
    x = torch.rand(2, 5, 6, 3)
    m = torch.rand(5, 6)
    got = tr.download([x, m]).wait()
    assert [g.shape for g in got] == [(2, 5, 6, 3), (5, 6)]
    np.testing.assert_array_equal(got[0], x.numpy())
    np.testing.assert_array_equal(got[1], m.numpy())
    with pytest.raises(ShapeError, match="frame"):
        tr.upload(np.zeros((4, 5), np.float32))


def test_read_only_arrays_upload_without_warnings(recwarn: pytest.WarningsRecorder) -> None:
    a = np.ones((2, 3, 2), np.float32)
    a.flags.writeable = False
    t = Transfers(torch.device("cpu")).upload(a)
    assert t.shape == (1, 2, 2, 3) and not [w for w in recwarn if "writable" in str(w.message)]
