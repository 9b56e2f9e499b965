"""Fast Artistic Videos for Blender: temporally consistent style transfer of strips and renders.

Registration only. Nothing here (or in any module imported at start-up) imports torch or fav_core: the
core runs in a separate Python (or, when installed in Blender's Python, in a worker thread), so the
extension loads in any Blender 4.2-5.0 and says in its preferences what to install.
"""
from __future__ import annotations

# Read by "Install legacy Add-on" (the legacy zip built by build.py); extensions use blender_manifest.toml.
bl_info = {
    "name": "Fast Artistic Videos",
    "author": "fast-artistic-videos contributors",
    "version": (0, 1, 0),
    "blender": (4, 2, 0),
    "location": "Sequencer > Sidebar > Stylize; Compositor > Sidebar > Stylize; Render menu",
    "description": "Temporally consistent neural style transfer for strips and renders",
    "category": "Sequencer",
}

import bpy  # noqa: E402

from . import operators_compositor, operators_sequencer, panels, preferences, properties  # noqa: E402

_CLASSES = (
    *preferences.CLASSES,
    *properties.CLASSES,
    *operators_sequencer.CLASSES,
    *operators_compositor.CLASSES,
    *panels.CLASSES,
)


def register() -> None:
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    properties.register()
    panels.register()


def unregister() -> None:
    panels.unregister()
    properties.unregister()
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
