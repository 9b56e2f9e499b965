"""Nuke GUI start-up: add Nodes > FastArtisticVideos and the dockable panel.

Never breaks Nuke's start-up: each step is guarded on its own and errors go to stderr.
"""
import traceback

try:
    import nuke

    nuke.menu("Nodes").addMenu("FastArtisticVideos").addCommand(
        "FastArtisticVideos", "import fav_nuke.node; fav_nuke.node.create_node()"
    )
except Exception:  # noqa: BLE001 - start-up must survive anything
    traceback.print_exc()

try:
    import fav_nuke.panel  # the dockable preview/job panel (Qt only; the core runs out of process)

    fav_nuke.panel.register()
except Exception:  # noqa: BLE001 - start-up must survive anything
    traceback.print_exc()
