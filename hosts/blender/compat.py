"""Version shims for the Blender API changes between 4.2 LTS and 5.0.

Every attribute that was renamed or removed in that window is reached through one function here, so the rest
of the extension reads the same on every supported version:

| thing | 4.2 - 4.5 | 5.0 |
|---|---|---|
| Sequencer strips | ``sequence_editor.sequences`` (4.4+: also ``.strips``) | ``sequence_editor.strips`` |
| Compositor tree | ``scene.node_tree`` + ``scene.use_nodes`` + Composite node | ``scene.compositing_node_group`` + Group Output |
| Multilayer EXR | ``file_format = 'OPEN_EXR_MULTILAYER'`` | ``media_type = 'MULTI_LAYER_IMAGE'`` |
| EEVEE engine id | ``BLENDER_EEVEE_NEXT`` | ``BLENDER_EEVEE`` |
"""
from __future__ import annotations

from typing import Any

import bpy

#: Engines that write a Vector pass (Cycles, and EEVEE "Next" under both of its ids). Workbench does not.
VECTOR_PASS_ENGINES: frozenset[str] = frozenset({"CYCLES", "BLENDER_EEVEE", "BLENDER_EEVEE_NEXT"})


def strips(sequence_editor: Any) -> Any:
    """The top-level strip collection of a sequence editor (``strips`` from 4.4, ``sequences`` before)."""
    if hasattr(sequence_editor, "strips"):
        return sequence_editor.strips
    return sequence_editor.sequences


def all_strips(sequence_editor: Any) -> Any:
    """Every strip, including those inside meta strips (``strips_all`` / ``sequences_all``)."""
    if hasattr(sequence_editor, "strips_all"):
        return sequence_editor.strips_all
    return sequence_editor.sequences_all


def eevee_engine_id() -> str:
    """The engine id of EEVEE on this Blender: ``BLENDER_EEVEE_NEXT`` on 4.2-4.5, ``BLENDER_EEVEE`` on 5.0."""
    items = bpy.types.RenderSettings.bl_rna.properties["engine"].enum_items.keys()
    return "BLENDER_EEVEE_NEXT" if "BLENDER_EEVEE_NEXT" in items else "BLENDER_EEVEE"


def set_multilayer_exr(image_settings: Any, *, half: bool = False) -> None:
    """Make ``image_settings`` write multilayer OpenEXR (all passes in one file per frame).

    5.0 made ``file_format = 'OPEN_EXR_MULTILAYER'`` read-only; there one sets ``media_type`` instead.
    """
    if hasattr(image_settings, "media_type"):
        image_settings.media_type = "MULTI_LAYER_IMAGE"
    else:
        image_settings.file_format = "OPEN_EXR_MULTILAYER"
    image_settings.color_depth = "16" if half else "32"
    image_settings.exr_codec = "ZIP"


def compositor_tree(scene: Any, *, create: bool) -> Any:
    """The scene's compositing node tree, or None when it has none and ``create`` is False.

    5.0: ``scene.compositing_node_group`` (a reusable data-block; created with a Group Output that has an
    Image socket). 4.x: ``scene.node_tree`` after ``scene.use_nodes = True`` (Blender then builds the
    default Render Layers -> Composite tree).
    """
    if hasattr(scene, "compositing_node_group"):
        tree = scene.compositing_node_group
        if tree is None and create:
            tree = bpy.data.node_groups.new(f"{scene.name} Compositing", "CompositorNodeTree")
            tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
            tree.nodes.new("NodeGroupOutput")
            scene.compositing_node_group = tree
        return tree
    if create and not scene.use_nodes:
        scene.use_nodes = True
    return scene.node_tree


def compositor_output_socket(tree: Any) -> Any:
    """The input socket whose value is the compositing result.

    5.0: the first Image input of the active Group Output (created when missing). 4.x: the Composite node's
    Image input (created when missing).
    """
    if not hasattr(bpy.types, "CompositorNodeComposite"):
        outputs = [n for n in tree.nodes if n.bl_idname == "NodeGroupOutput"]
        if not outputs:
            outputs = [tree.nodes.new("NodeGroupOutput")]
        node = next((n for n in outputs if n.is_active_output), outputs[0])
        if not any(
            item.item_type == "SOCKET" and item.in_out == "OUTPUT" for item in tree.interface.items_tree
        ):
            tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        return node.inputs[0]
    composites = [n for n in tree.nodes if n.bl_idname == "CompositorNodeComposite"]
    node = composites[0] if composites else tree.nodes.new("CompositorNodeComposite")
    return node.inputs["Image"]
