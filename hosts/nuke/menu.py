"""Nuke GUI start-up: add Nodes > FastArtisticVideos. Never breaks Nuke's start-up (errors go to stderr)."""
import traceback

try:
    import nuke

    nuke.menu("Nodes").addMenu("FastArtisticVideos").addCommand(
        "FastArtisticVideos", "import fav_nuke.node; fav_nuke.node.create_node()"
    )
except Exception:  # noqa: BLE001 - start-up must survive anything
    traceback.print_exc()
