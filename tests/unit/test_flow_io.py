from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from fav_core.errors import ConfigError, FlowFormatError, InputError, OutputError, ShapeError
from fav_core.flow import check_pattern, format_pattern, read_flo, write_flo


def _flo_bytes(width: int, height: int, values: list[float], tag: float = 202021.25) -> bytes:
    return struct.pack("<fii", tag, width, height) + struct.pack(f"<{len(values)}f", *values)


class TestReadFlo:
    def test_smoke(self, tmp_path: Path) -> None:
        # 2 rows x 3 columns, (u, v) interleaved, row-major: value (u, v) = (10*y + x, -(10*y + x))
        vals: list[float] = []
        for y in range(2):
            for x in range(3):
                vals += [10.0 * y + x, -(10.0 * y + x)]
        p = tmp_path / "a.flo"
        p.write_bytes(_flo_bytes(3, 2, vals))
        flow = read_flo(p)
        assert flow.shape == (2, 3, 2) and flow.dtype == np.float32
        assert flow[1, 2].tolist() == [12.0, -12.0]  # channel 0 = u = dx, no swap
        assert flow[0, 1].tolist() == [1.0, -1.0]

    def test_round_trip(self, tmp_path: Path) -> None:
        rng = np.random.default_rng(0)
        flow = rng.normal(size=(5, 7, 2)).astype(np.float32)
        p = tmp_path / "r.flo"
        write_flo(p, flow)
        assert p.stat().st_size == 12 + 8 * 35
        np.testing.assert_array_equal(read_flo(p), flow)
        assert not list(tmp_path.glob(".*tmp"))  # no temp file left behind

    def test_write_float64_big_endian_input(self, tmp_path: Path) -> None:
        flow = np.arange(8, dtype=">f8").reshape(2, 2, 2)
        p = tmp_path / "b.flo"
        write_flo(p, flow)
        raw = p.read_bytes()
        assert raw[:4] == b"PIEH"
        assert struct.unpack("<ii", raw[4:12]) == (2, 2)
        assert struct.unpack("<8f", raw[12:]) == tuple(float(i) for i in range(8))

    def test_missing(self, tmp_path: Path) -> None:
        with pytest.raises(InputError, match="nope.flo: flow file not found"):
            read_flo(tmp_path / "nope.flo")

    def test_bad_magic(self, tmp_path: Path) -> None:
        p = tmp_path / "m.flo"
        p.write_bytes(_flo_bytes(1, 1, [0.0, 0.0], tag=1.0))
        with pytest.raises(FlowFormatError, match="m.flo: not a .flo file"):
            read_flo(p)

    @pytest.mark.parametrize("size", [(0, 1), (1, -3), (2**15 + 1, 1)])
    def test_bad_size(self, tmp_path: Path, size: tuple[int, int]) -> None:
        p = tmp_path / "s.flo"
        p.write_bytes(_flo_bytes(size[0], size[1], [0.0, 0.0]))
        with pytest.raises(FlowFormatError, match="bad size"):
            read_flo(p)

    def test_truncated_and_padded(self, tmp_path: Path) -> None:
        p = tmp_path / "t.flo"
        p.write_bytes(_flo_bytes(2, 2, [0.0] * 7))
        with pytest.raises(FlowFormatError, match="t.flo: file is 40 bytes, a 2x2 flow needs 44"):
            read_flo(p)
        p.write_bytes(_flo_bytes(2, 2, [0.0] * 9))
        with pytest.raises(FlowFormatError, match="needs 44"):
            read_flo(p)
        p.write_bytes(b"PIE")
        with pytest.raises(FlowFormatError, match="only 3 bytes"):
            read_flo(p)

    @pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
    def test_non_finite(self, tmp_path: Path, bad: float) -> None:
        p = tmp_path / "n.flo"
        p.write_bytes(_flo_bytes(2, 1, [0.0, 1.0, bad, 2.0]))
        with pytest.raises(FlowFormatError, match="n.flo: 1 pixel"):
            read_flo(p)


class TestWriteFlo:
    def test_exception(self, tmp_path: Path) -> None:
        with pytest.raises(ShapeError):
            write_flo(tmp_path / "x.flo", np.zeros((2, 2, 3), np.float32))
        with pytest.raises(FlowFormatError, match="NaN"):
            write_flo(tmp_path / "x.flo", np.full((2, 2, 2), np.nan, np.float32))
        with pytest.raises(OutputError, match="cannot write"):
            write_flo(tmp_path / "missing_dir" / "x.flo", np.zeros((2, 2, 2), np.float32))
        assert not (tmp_path / "x.flo").exists()

    def test_overwrite_is_atomic_replace(self, tmp_path: Path) -> None:
        p = tmp_path / "o.flo"
        write_flo(p, np.zeros((1, 1, 2), np.float32))
        write_flo(p, np.ones((2, 3, 2), np.float32))
        assert read_flo(p).shape == (2, 3, 2)


class TestFormatPattern:
    def test_reference_pattern(self) -> None:
        assert format_pattern("backward_[%d]_{%d}.flo", 5, 4) == "backward_5_4.flo"
        assert format_pattern("reliable_[%d]_{%d}.pgm", 2, 1) == "reliable_2_1.pgm"

    def test_formats(self) -> None:
        assert format_pattern("d/f_{%05d}_to_[%03d].flo", 12, 11) == "d/f_00011_to_012.flo"
        assert format_pattern("[%d]/{%d}/[%d]", 7, 6) == "7/6/7"

    def test_other_percent_left_alone(self) -> None:
        assert format_pattern("face%d/backward_[%d]_{%d}.flo", 3, 2) == "face%d/backward_3_2.flo"

    @pytest.mark.parametrize(
        "bad", ["backward_%d_%d.flo", "backward_[%d].flo", "b_{%d}.flo", "b_[x]_{y}.flo"]
    )
    def test_exception(self, bad: str) -> None:
        with pytest.raises(ConfigError, match="placeholder"):
            format_pattern(bad, 2, 1)
        with pytest.raises(ConfigError):
            check_pattern(bad)


def test_written_files_get_the_umask_mode(tmp_path: Path) -> None:
    """Flow and reliability files are read by other farm users: the umask's mode, not mkstemp's 0600."""
    import os

    from fav_core.pgm import write_pgm

    old = os.umask(0o022)
    try:
        write_flo(tmp_path / "f.flo", np.zeros((2, 3, 2), np.float32))
        write_pgm(tmp_path / "r.pgm", np.ones((2, 3), np.float32))
    finally:
        os.umask(old)
    assert (tmp_path / "f.flo").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "r.pgm").stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.flo", "r.pgm"]  # no temporary file left
