"""fav_nuke.node, menu.py and init.py against the fake nuke (tests/hosts/fake_nuke): knobs and insides."""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

HOSTS_NUKE = Path(__file__).resolve().parents[2] / "hosts" / "nuke"
sys.path.insert(0, str(HOSTS_NUKE))

from tests.hosts.fake_nuke import FakeNuke, install  # noqa: E402


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeNuke:
    return install(monkeypatch)


def test_menu_entry_creates_the_node(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = install(monkeypatch, gui=True)  # menu.py only runs in GUI sessions (nuke.menu raises otherwise)
    runpy.run_path(str(HOSTS_NUKE / "menu.py"))
    command = fake.menus["Nodes"].items["FastArtisticVideos"].items["FastArtisticVideos"]
    plate = fake.module.nodes.Read(name="plate_read")
    fake.selected = plate
    exec(command, {})
    group = fake.root_node.node("FastArtisticVideos")
    assert group is not None and group.Class() == "Group"
    assert group.input(0) is plate  # createNode connects to the selection


def test_knobs_and_defaults(fake: FakeNuke) -> None:
    from fav_nuke.knobs import KNOBS
    from fav_nuke.node import create_node

    group = create_node()
    for spec in KNOBS:
        knob = group[spec.name]
        assert type(knob).__name__ == {
            "tab": "Tab_Knob", "text": "Text_Knob", "button": "PyScript_Knob", "enum": "Enumeration_Knob",
            "bool": "Boolean_Knob", "int": "Int_Knob", "file": "File_Knob", "string": "String_Knob"}[spec.kind]
        if spec.kind != "tab":
            assert knob.value() == spec.default, spec.name
    assert group["flow"].values() == ["motion channels", "DIS (computed)", "DeepFlow (computed)", "RAFT (computed)"]
    assert "fav_nuke.render.on_stylize_button()" in group["stylize"].value()
    assert group["backward_v"].tooltip().startswith("channel holding backward v")
    second = create_node()
    assert (group.name(), second.name()) == ("FastArtisticVideos", "FastArtisticVideos1")


def test_internal_graph(fake: FakeNuke) -> None:
    from fav_nuke import node as n

    group = n.create_node()
    names = [c.name() for c in group.nodes()]
    for name in n.INTERNAL:
        assert name in names
    plate, vectors = group.node(n.PLATE_INPUT), group.node(n.VECTORS_INPUT)
    assert (plate["number"].value(), vectors["number"].value()) == (0, 1)
    copy, write = group.node(n.COPY), group.node(n.WRITE)
    assert copy.input(0) is plate and copy.input(1) is plate
    assert [(copy[f"from{i}"].value(), copy[f"to{i}"].value()) for i in range(4)] == [
        ("backward.u", "backward.u"), ("backward.v", "backward.v"), ("forward.u", "forward.u"),
        ("forward.v", "forward.v")]
    assert write.input(0) is copy
    assert (write["file_type"].value(), write["datatype"].value(), write["raw"].value()) == ("exr", "32 bit float", True)
    assert write["disable"].value() is True  # never rendered by "Render all"
    read, switch = group.node(n.READ), group.node(n.SWITCH)
    assert read["raw"].value() is True and read["on_error"].value() == "black"
    assert switch.input(0) is plate and switch.input(1) is read and switch["which"].value() == 0
    output = next(c for c in group.nodes() if c.Class() == "Output")
    assert output.input(0) is switch
    assert fake.context == [fake.root_node]  # begin/end balanced


def test_missing_internal_node_is_a_config_error(fake: FakeNuke) -> None:
    from fav_nuke import node as n

    from fav_core.errors import ConfigError

    group = n.create_node()
    group.node(n.READ).setName("Renamed")
    with pytest.raises(ConfigError, match="internal node FavRead is missing; recreate"):
        n.internal(group, n.READ)


def test_unknown_knob_kind(fake: FakeNuke) -> None:
    from fav_nuke.knobs import KnobSpec
    from fav_nuke.node import make_knob

    from fav_core.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown kind 'slider'"):
        make_knob(KnobSpec("x", "x", "slider"))


def test_init_py_adds_the_checkout(fake: FakeNuke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", [p for p in sys.path if Path(p) != HOSTS_NUKE.parents[1]] + [str(HOSTS_NUKE)])
    runpy.run_path(str(HOSTS_NUKE / "init.py"))
    assert str(HOSTS_NUKE.parents[1]) in sys.path


def test_startup_files_survive_errors(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "nuke", None)  # "import nuke" raises ImportError
    runpy.run_path(str(HOSTS_NUKE / "menu.py"))
    assert "import of nuke halted" in capsys.readouterr().err


def test_the_fake_is_strict(fake: FakeNuke) -> None:
    """The fake refuses what it does not implement (so the adapter cannot silently use unfaked API)."""
    with pytest.raises(AttributeError):
        fake.module.roto  # noqa: B018
    with pytest.raises(AttributeError):
        fake.module.nodes.Blur()
    read = fake.module.nodes.Read()
    with pytest.raises(AttributeError):
        read.sample("rgba.red", 0, 0)
    with pytest.raises(NameError):
        read["no_such_knob"]
    with pytest.raises(TypeError):
        read["first"].setValue("1")
    with pytest.raises(ValueError):
        read["on_error"].setValue("explode")
    assert read.knob("no_such_knob") is None
    with pytest.raises(TypeError):  # Nuke's keyword is uncollide (Node.setName(name, uncollide=True, ...))
        read.setName("x", uniquify=True)
    with pytest.raises(TypeError):  # Int_Knob.setValue: "Must be an integer."
        read["first"].setValue(1.0)
    with pytest.raises(RuntimeError, match="GUI"):  # nuke.menu raises outside the GUI
        fake.module.menu("Nodes")


def test_the_fake_queues_main_thread_calls_even_from_the_main_thread(fake: FakeNuke) -> None:
    """nuke.executeInMainThread only posts a request and returns, whichever thread calls it."""
    ran: list[int] = []
    fake.module.executeInMainThread(ran.append, 1)
    assert ran == []
    assert fake.run_main_thread_queue() == 1 and ran == [1]


def test_the_fake_inputs_and_delete_follow_nuke(fake: FakeNuke) -> None:
    read, switch = fake.module.nodes.Read(), fake.module.nodes.Switch()
    switch.setInput(3, read)
    switch.setInput(3, None)
    switch.setInput(1, read)
    assert switch.inputs() == 2  # highest connected input + 1, not the slots ever touched
    fake.module.delete(read)
    assert fake.module.toNode(read._name) is None
    with pytest.raises(ValueError, match="not attached to a node"):
        read.name()
    with pytest.raises(ValueError, match="not attached to a node"):
        read["file"]


def test_create_node_uses_nukes_set_name_keyword(fake: FakeNuke) -> None:
    """Node.setName takes ``uncollide`` (not ``uniquify``): creating the node from the menu must not raise."""
    from fav_nuke.node import create_node

    first = create_node()
    second = create_node()
    assert (first.name(), second.name()) == ("FastArtisticVideos", "FastArtisticVideos1")


NUKE_SIDE = ["init.py", "menu.py"] + [f"fav_nuke/{n}.py" for n in (
    "__init__", "knobs", "channels", "frames", "paths", "process", "settings", "node", "render")]


@pytest.mark.parametrize("name", NUKE_SIDE)
def test_nuke_side_code_parses_as_python_3_9_and_imports_no_heavy_modules(name: str) -> None:
    """Nuke 14 runs Python 3.9 without torch/numpy: the code Nuke imports must not need either."""
    import ast

    tree = ast.parse((HOSTS_NUKE / name).read_text(), feature_version=(3, 9))
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    modules = {a.name.split(".")[0] for n in top if isinstance(n, ast.Import) for a in n.names}
    modules |= {(n.module or "").split(".")[0] for n in top if isinstance(n, ast.ImportFrom)}
    assert not modules & {"torch", "numpy", "cv2", "OpenImageIO"}, modules


def test_create_node_without_a_selection_is_unconnected(fake: FakeNuke) -> None:
    from fav_nuke.node import create_node

    group = create_node()
    assert group.input(0) is None and group.maximumInputs() == 2  # plate and vectors


def test_the_fake_refuses_inputs_a_node_does_not_have(fake: FakeNuke) -> None:
    read, group = fake.module.nodes.Read(), fake.module.nodes.Group()
    assert read.setInput(0, group) is False and read.input(0) is None  # a Read has no inputs
    assert group.setInput(0, read) is False  # an empty Group has none either
    with pytest.raises(ValueError, match="No node selected"):
        fake.module.selectedNode()
