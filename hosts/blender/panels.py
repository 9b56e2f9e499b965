"""Sidebar panels (Sequencer, Compositor) and menu entries; drawing only, no logic."""
from __future__ import annotations

from typing import Any

import bpy

from .operators_compositor import FAV_OT_stylize_render
from .operators_sequencer import FAV_OT_stylize_strip


def draw_settings(layout: Any, settings: Any, *, render: bool) -> None:
    """The shared settings block."""
    col = layout.column(align=False)
    col.use_property_split = True
    col.use_property_decorate = False
    col.prop(settings, "model")
    col.prop(settings, "image_model")
    col.prop(settings, "flow")
    if settings.flow == "RAFT":
        col.prop(settings, "raft_weights")
    if settings.flow == "PASS" and not render:
        col.label(text="Movies and images without a Vector pass use DIS", icon="INFO")
    col.prop(settings, "min_filter")
    col.prop(settings, "median_filter")
    col.prop(settings, "fill")
    col.prop(settings, "direction")
    col.prop(settings, "device")
    col.prop(settings, "precision")
    col.prop(settings, "output_dir")
    col.prop(settings, "resume")
    if render:
        col.prop(settings, "reuse_renders")


def draw_status(layout: Any, settings: Any) -> None:
    """Progress of the running job (ESC cancels) or the last status line."""
    if settings.running:
        if hasattr(layout, "progress"):
            layout.progress(factor=settings.progress, text=settings.status or "running")
        else:
            layout.label(text=f"{settings.progress * 100:.0f}% {settings.status}")
        layout.label(text="Press Esc to cancel (whole frames are kept)", icon="CANCEL")
    elif settings.status:
        layout.label(text=settings.status)


class FAV_PT_sequencer(bpy.types.Panel):
    bl_label = "Stylize"
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Stylize"

    def draw(self, context: Any) -> None:
        settings = context.scene.fav_settings
        draw_settings(self.layout, settings, render=False)
        row = self.layout.row()
        row.enabled = not settings.running
        row.operator(FAV_OT_stylize_strip.bl_idname, icon="BRUSH_DATA")
        draw_status(self.layout, settings)


class FAV_PT_compositor(bpy.types.Panel):
    bl_label = "Stylize"
    bl_space_type = "NODE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Stylize"

    @classmethod
    def poll(cls, context: Any) -> bool:
        space = context.space_data
        return space is not None and getattr(space, "tree_type", "") == "CompositorNodeTree"

    def draw(self, context: Any) -> None:
        settings = context.scene.fav_settings
        draw_settings(self.layout, settings, render=True)
        row = self.layout.row()
        row.enabled = not settings.running
        row.operator(FAV_OT_stylize_render.bl_idname, icon="RENDER_ANIMATION")
        draw_status(self.layout, settings)


def menu_strip(self: Any, context: Any) -> None:
    self.layout.separator()
    self.layout.operator(FAV_OT_stylize_strip.bl_idname, icon="BRUSH_DATA")


def menu_render(self: Any, context: Any) -> None:
    self.layout.separator()
    self.layout.operator(FAV_OT_stylize_render.bl_idname, icon="RENDER_ANIMATION")


CLASSES = (FAV_PT_sequencer, FAV_PT_compositor)
MENUS = (("SEQUENCER_MT_strip", menu_strip), ("TOPBAR_MT_render", menu_render))


def register() -> None:
    for menu, fn in MENUS:
        if hasattr(bpy.types, menu):
            getattr(bpy.types, menu).append(fn)


def unregister() -> None:
    for menu, fn in MENUS:
        if hasattr(bpy.types, menu):
            getattr(bpy.types, menu).remove(fn)
