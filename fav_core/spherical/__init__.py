"""Spherical (360°) video: cube faces with overlap, border-consistent stylization, equirectangular in and out
(algorithm.md §9).

- :mod:`~fav_core.spherical.projection` — :class:`CubeGeometry`, equirect ↔ faces (numpy/cv2);
- :mod:`~fav_core.spherical.faces` — face order, file ids, axes, adjacency derived from the geometry;
- :mod:`~fav_core.spherical.border_maps` — the reference's perspective border maps (literal port) + exact maps;
- :mod:`~fav_core.spherical.blend` — border priors, ramps, ``blend_other_sides`` (torch);
- :mod:`~fav_core.spherical.stylizer360` — the per-face loop (torch);
- :mod:`~fav_core.spherical.sources`, :mod:`~fav_core.spherical.layout`, :mod:`~fav_core.spherical.seams`,
  :mod:`~fav_core.spherical.synthetic` — inputs, output layouts, seam measurement, a procedural test scene;
- :mod:`~fav_core.spherical.flow` — host motion vectors of an equirect frame reprojected to the faces;
- :mod:`~fav_core.spherical.evaluate` — the §9.6 evaluation extras per face (``fav stylize-360 --evaluate``).

Importing this package imports no torch; the torch modules are imported where they are used.
"""
from __future__ import annotations

from fav_core.spherical.faces import FACES, FILE_IDS
from fav_core.spherical.projection import CubeGeometry, CubeToEquirect, EquirectToCube

__all__ = ["FACES", "FILE_IDS", "CubeGeometry", "CubeToEquirect", "EquirectToCube"]
