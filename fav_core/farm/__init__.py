"""Farm runs (``fav farm``): flows for all frame pairs in parallel, then stylization in parallel chunks.

- :mod:`fav_core.farm.plan` — which frames each task handles (pure, no Ray).
- :mod:`fav_core.farm.tasks` — the task bodies (flows of a group of pairs, one stylization chunk); plain
  functions, idempotent (atomic writes, existing outputs skipped), so a retried task is harmless.
- :mod:`fav_core.farm.ray_runner` — schedules the tasks on a Ray cluster (local or ``--address``), retries
  failed tasks. Ray is imported only there (the ``farm`` extra).

Chunking a recurrent stylization restarts the recursion at every chunk. Each chunk therefore starts ``warmup``
frames before its first written frame; those frames are stylized (so the prior converges) but not written.
"""
from __future__ import annotations

from fav_core.farm.plan import Chunk, plan_chunks, plan_flow_groups
from fav_core.farm.tasks import ShotSpec, flow_group, stylize_chunk

__all__ = ["Chunk", "ShotSpec", "flow_group", "plan_chunks", "plan_flow_groups", "stylize_chunk"]
