"""Fuzzing the flow and reliability-map readers: any bytes give a valid array or a typed error, never a crash."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fav_core.errors import FlowFormatError, InputError
from fav_core.flow import read_flo, read_flo_header, write_flo
from fav_core.pgm import read_pgm, read_pgm_header, write_pgm

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _check_flo(path: Path) -> None:
    try:
        flow = read_flo(path)
    except (FlowFormatError, InputError) as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    assert flow.dtype == np.float32 and flow.ndim == 3 and flow.shape[2] == 2
    assert np.isfinite(flow).all()
    assert read_flo_header(path) == flow.shape[:2]


@FUZZ
@given(data=st.binary(max_size=256))
def test_flo_arbitrary_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "f.flo"
    path.write_bytes(data)
    _check_flo(path)


@FUZZ
@given(
    w=st.integers(-3, 40), h=st.integers(-3, 40), extra=st.integers(-16, 16),
    fill=st.sampled_from([0.0, 1.5, np.nan, np.inf, -np.inf, 3e38]),
)
def test_flo_structured_headers(tmp_path: Path, w: int, h: int, extra: int, fill: float) -> None:
    n = max(0, 2 * max(w, 0) * max(h, 0) + extra // 4)
    body = np.full(n, fill, "<f4").tobytes()
    path = tmp_path / "f.flo"
    path.write_bytes(struct.pack("<fii", 202021.25, w, h) + body + b"\0" * (extra % 4))
    _check_flo(path)


@FUZZ
@given(flow=st.integers(1, 6).flatmap(lambda h: st.integers(1, 6).flatmap(
    lambda w: st.lists(st.floats(-1e6, 1e6, width=32), min_size=2 * h * w, max_size=2 * h * w).map(
        lambda v: np.asarray(v, np.float32).reshape(h, w, 2)))))
def test_flo_round_trip(tmp_path: Path, flow: np.ndarray) -> None:
    write_flo(tmp_path / "r.flo", flow)
    np.testing.assert_array_equal(read_flo(tmp_path / "r.flo"), flow)


def _check_pgm(path: Path) -> None:
    try:
        mask = read_pgm(path)
    except (FlowFormatError, InputError) as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    assert mask.dtype == np.float32 and mask.ndim == 2
    assert float(mask.min()) >= 0.0 and float(mask.max()) <= 1.0
    assert read_pgm_header(path) == mask.shape


@FUZZ
@given(data=st.binary(max_size=200))
def test_pgm_arbitrary_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "m.pgm"
    path.write_bytes(data)
    _check_pgm(path)


@FUZZ
@given(
    magic=st.sampled_from([b"P5", b"P2", b"P6", b"P1", b"p5"]),
    fields=st.lists(st.one_of(st.integers(-2, 70000).map(lambda i: str(i).encode()), st.sampled_from(
        [b"#c\n", b"x", b"", b"1e3", b"\xff"])), min_size=0, max_size=4),
    sep=st.sampled_from([b" ", b"\n", b"\t", b"\r\n", b" # note\n"]),
    body=st.binary(max_size=120),
)
def test_pgm_structured_headers(tmp_path: Path, magic: bytes, fields: list[bytes], sep: bytes, body: bytes) -> None:
    path = tmp_path / "m.pgm"
    path.write_bytes(magic + sep + sep.join(fields) + sep + body)
    _check_pgm(path)


@FUZZ
@given(mask=st.integers(1, 8).flatmap(lambda h: st.integers(1, 8).flatmap(
    lambda w: st.lists(st.sampled_from([0.0, 1.0]), min_size=h * w, max_size=h * w).map(
        lambda v: np.asarray(v, np.float32).reshape(h, w)))))
def test_pgm_round_trip(tmp_path: Path, mask: np.ndarray) -> None:
    write_pgm(tmp_path / "r.pgm", mask)
    np.testing.assert_array_equal(read_pgm(tmp_path / "r.pgm", expect_size=mask.shape), mask)
