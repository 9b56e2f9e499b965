"""Create the ``FastArtisticVideos`` Group node: user knobs from :data:`fav_nuke.knobs.KNOBS` and its insides.

Inside the Group::

    plate (Input 0) ──┬──────────────► FavVectors (Copy, B) ──► FavWrite (Write, disabled except while rendering)
                      │  vectors (Input 1) ─or plate─► (A)
                      ├──► FavSwitch (0) ──► Output
    FavRead (Read) ───┘──► FavSwitch (1)

``FavVectors`` copies the artist's vector channels to ``backward.u/v``, ``forward.u/v`` (the core's ``--vectors
nuke`` names). Before the first stylization the Switch passes the plate through; afterwards it shows FavRead,
which reads the stylized EXRs. The Write writes raw (scene-linear) float EXRs; the Read reads them raw.
"""
from __future__ import annotations

import nuke

from fav_core.errors import ConfigError
from fav_nuke.channels import VectorChannels
from fav_nuke.knobs import KNOBS, KnobSpec

NODE_NAME = "FastArtisticVideos"
PLATE_INPUT = "plate"
VECTORS_INPUT = "vectors"
COPY = "FavVectors"
WRITE = "FavWrite"
READ = "FavRead"
SWITCH = "FavSwitch"
INTERNAL = (PLATE_INPUT, VECTORS_INPUT, COPY, WRITE, READ, SWITCH)


def make_knob(spec: KnobSpec) -> nuke.Knob:
    """A Nuke knob for one :class:`KnobSpec`, with its default value and tooltip."""
    if spec.kind == "tab":
        return nuke.Tab_Knob(spec.name, spec.label)
    if spec.kind == "text":
        return nuke.Text_Knob(spec.name, spec.label, str(spec.default))
    if spec.kind == "button":
        knob = nuke.PyScript_Knob(spec.name, spec.label, str(spec.default))
    elif spec.kind == "enum":
        knob = nuke.Enumeration_Knob(spec.name, spec.label, list(spec.choices))
        knob.setValue(str(spec.default))
    elif spec.kind == "bool":
        knob = nuke.Boolean_Knob(spec.name, spec.label, bool(spec.default))
    elif spec.kind == "int":
        knob = nuke.Int_Knob(spec.name, spec.label)
        knob.setValue(int(spec.default))
    elif spec.kind == "file":
        knob = nuke.File_Knob(spec.name, spec.label)
        knob.setValue(str(spec.default))
    elif spec.kind == "string":
        knob = nuke.String_Knob(spec.name, spec.label, str(spec.default))
    else:
        raise ConfigError(f"knob {spec.name}: unknown kind {spec.kind!r}")
    if spec.tooltip:
        knob.setTooltip(spec.tooltip)
    return knob


def create_node() -> nuke.Node:
    """Create a FastArtisticVideos Group, its plate input connected to the selected node.

    ``createNode`` cannot do the connecting: a Group made in Python has no Input node yet, hence no input 0, when
    it is created (its inputs are its Input nodes). The selection is read first and connected once the insides
    exist. ``nuke.selectedNode()`` raises ValueError when nothing is selected.

    Returns:
        The new Group node.
    """
    try:
        upstream = nuke.selectedNode()
    except ValueError:  # "No node selected"
        upstream = None
    group = nuke.createNode("Group", inpanel=False)
    # Nuke's signature is Node.setName(name, uncollide=True, updateExpressions=False) (Foundry Python API
    # reference; sisoe24/nuke-python-stubs stubs/nuke/classes/Node.py): "uncollide" appends a number when taken.
    group.setName(NODE_NAME, uncollide=True)
    for spec in KNOBS:
        group.addKnob(make_knob(spec))
    build_internals(group)
    if upstream is not None and group.input(0) is None:
        group.setInput(0, upstream)
    return group


def build_internals(group: nuke.Node) -> None:
    """Add the internal nodes (see the module docstring) to an empty Group."""
    group.begin()
    try:
        plate = nuke.nodes.Input(name=PLATE_INPUT)
        nuke.nodes.Input(name=VECTORS_INPUT)  # input 1; render.wire_vectors uses it when connected
        copy = nuke.nodes.Copy(name=COPY)
        copy.setInput(0, plate)
        copy.setInput(1, plate)
        set_copy_channels(copy, VectorChannels())
        write = nuke.nodes.Write(name=WRITE)
        write.setInput(0, copy)
        write["file_type"].setValue("exr")
        write["datatype"].setValue("32 bit float")
        write["raw"].setValue(True)
        write["channels"].setValue("rgba")
        write["disable"].setValue(True)
        read = nuke.nodes.Read(name=READ)
        read["raw"].setValue(True)
        read["on_error"].setValue("black")
        switch = nuke.nodes.Switch(name=SWITCH)
        switch.setInput(0, plate)
        switch.setInput(1, read)
        switch["which"].setValue(0)
        output = nuke.nodes.Output()
        output.setInput(0, switch)
    finally:
        group.end()


def set_copy_channels(copy: nuke.Node, channels: VectorChannels) -> None:
    """Copy node ``from0..3`` = the artist's channels, ``to0..3`` = ``backward.u/v``, ``forward.u/v``."""
    for i, (src, dst) in enumerate(channels.copy_pairs()):
        copy[f"from{i}"].setValue(src)
        copy[f"to{i}"].setValue(dst)


def internal(group: nuke.Node, name: str) -> nuke.Node:
    """An internal node of the Group by name.

    Raises:
        ConfigError: it was deleted or renamed (the node must be recreated from the menu).
    """
    found = group.node(name)
    if found is None:
        raise ConfigError(f"internal node {name} is missing; recreate the node from the menu")
    return found
