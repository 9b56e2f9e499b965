"""Farm planning (fav_core.farm.plan): chunks with warm-up, flow groups; no Ray needed."""
from __future__ import annotations

import pytest

from fav_core.errors import ConfigError
from fav_core.farm import Chunk, plan_chunks, plan_flow_groups


def test_chunks_start_warmup_frames_early() -> None:
    chunks = plan_chunks([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], chunk_size=4, warmup=2)
    assert chunks == [
        Chunk(0, 1, (1, 2, 3, 4), (1, 2, 3, 4)),
        Chunk(0, 2, (3, 4, 5, 6, 7, 8), (5, 6, 7, 8)),
        Chunk(0, 3, (7, 8, 9, 10), (9, 10)),
    ]
    assert chunks[0].warmup == () and chunks[1].warmup == (3, 4)
    assert [i for c in chunks for i in c.written] == list(range(1, 11))


def test_backward_order_and_large_warmup() -> None:
    chunks = plan_chunks([5, 4, 3, 2, 1], chunk_size=2, warmup=9, shot=3)
    assert [c.frames for c in chunks] == [(5, 4), (5, 4, 3, 2), (5, 4, 3, 2, 1)]
    assert [c.written for c in chunks] == [(5, 4), (3, 2), (1,)]
    assert {c.shot for c in chunks} == {3}
    assert plan_chunks([], 3, 1) == []


def test_bad_settings() -> None:
    with pytest.raises(ConfigError, match="chunk-size"):
        plan_chunks([1, 2], 0, 1)
    with pytest.raises(ConfigError, match="warmup"):
        plan_chunks([1, 2], 2, -1)
    with pytest.raises(ConfigError, match="group"):
        plan_flow_groups([1, 2], 0)


def test_flow_groups_cover_every_adjacent_pair_once() -> None:
    assert plan_flow_groups([3, 1, 2, 5, 4], 3) == [[(1, 2), (2, 3), (3, 4)], [(4, 5)]]
    assert plan_flow_groups([7], 2) == []
