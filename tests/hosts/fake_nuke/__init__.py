"""A FAKE ``nuke`` module for tests: a small, honest model of exactly the Nuke API subset hosts/nuke uses.

This is **not** Nuke and makes no claim to behave like it beyond what is listed here. It exists so the adapter's
Nuke-facing code runs for real in tests (knobs hold values, nodes are wired, ``execute`` writes real EXR files
with OpenImageIO) instead of talking to a ``MagicMock`` that accepts anything. Anything not listed raises
``AttributeError`` (the module, the nodes and the knobs are plain objects without ``__getattr__`` magic), so a
typo or an API the adapter starts using without the fake being extended fails loudly.

Implemented, with Nuke's names and signatures:

- module: ``nodes.<Class>(name=..., <knob>=...)`` for Group, Input, Output, Copy, Write, Read, Switch;
  ``createNode(cls, args="", inpanel=True)`` (connects input 0 to the selected node when the new node has an
  input 0); ``selectedNode()``; ``root()``; ``toNode(name)``;
  ``thisNode()``; ``execute(node, first, last, incr=1)``; ``message(text)``; ``ProgressTask(name)``;
  ``executeInMainThread(call, args=(), kwargs=None)``; ``env``; ``menu(name)`` (GUI only, as in Nuke);
  ``delete(node)``; ``FrameRange``; knob classes
  ``Tab_Knob, Text_Knob, String_Knob, File_Knob, Int_Knob, Boolean_Knob, Enumeration_Knob, PyScript_Knob``
  (+ the ``Knob``/``Node`` base classes).
- nodes: ``name() setName() Class() knob() knobs() [name] addKnob() input() setInput() inputs() maximumInputs()
  frameRange() channels()``; Group also ``begin() end() node() nodes()``. ``setInput`` refuses (False) an input
  the node does not have; a Group has one input per Input node inside it.
- knobs: ``name() label() value() setValue() setTooltip() tooltip() setEnabled() enabled() node()``;
  ``execute()`` on PyScript_Knob (runs its code with ``thisNode()`` = the owner) and on Read's ``reload``.

Pixel model: images are dicts of full channel name -> (H, W) float32, rows top-down as in EXR files
(``rgba.red`` is stored as ``R`` on disk, other channels by their full name, e.g. ``forward.u``). Read, Input,
Copy, Switch, Output, Group and Write produce pixels; other classes raise ``NotImplementedError``. No colour
management: ``raw`` is stored but every value is treated as already linear. A disconnected Group input raises
instead of giving black. ``execute`` supports EXR Writes only; it raises ``RuntimeError`` like Nuke for a
disabled Write, a missing Read file or a missing folder, and ``RuntimeError("Cancelled")`` when the test makes the
artist press Cancel (:attr:`FakeNuke.cancel_execute_at`; Nuke's docs: "If the user hits the cancel button this
command will raise a 'cancelled' error"). Threads: ``executeInMainThread`` always queues the call until the test
calls :meth:`FakeNuke.run_main_thread_queue`, from any thread, as Nuke's own ``executeInMainThread`` does (it
only posts ``_nuke.RunInMainThread.request``; Nuke 14 pythondevguide ``_modules/nuke_internal/executeInMain``).
A deleted node (``delete``) raises ``ValueError("A PythonObject is not attached to a node")`` on any use, as
Nuke does.

Test controls (not Nuke API) live on :class:`FakeNuke`: ``messages``, ``executed``, ``progress_tasks``,
``cancel_when``, ``cancel_execute_at``, ``selected``, ``menus``, ``run_main_thread_queue()``.
"""
from __future__ import annotations

import re
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import OpenImageIO as oiio

_DISK_NAMES = {"rgba.red": "R", "rgba.green": "G", "rgba.blue": "B", "rgba.alpha": "A"}
_FROM_DISK = {v: k for k, v in _DISK_NAMES.items()}
_FRAME = re.compile(r"%0?(\d*)d|#+")


def format_frame(pattern: str, frame: int) -> str:
    """Substitute a frame number into ``%04d`` / ``%d`` / ``####`` (as Nuke's file knobs do)."""
    def sub(m: re.Match[str]) -> str:
        text = m.group(0)
        width = len(text) if text.startswith("#") else int(m.group(1) or 0)
        return f"{frame:0{width}d}"
    return _FRAME.sub(sub, pattern, count=1)


# ------------------------------------------------------------------------------------------------- knobs


class Knob:
    """Base knob: a name, a label and a value."""

    def __init__(self, name: str, label: str | None = None) -> None:
        self._name = name
        self._label = label if label is not None else name
        self._value: Any = None
        self._tooltip = ""
        self._enabled = True
        self._node: Node | None = None

    def name(self) -> str:
        return self._name

    def label(self) -> str:
        return self._label

    def value(self) -> Any:
        return self._value

    def setValue(self, value: Any) -> bool:
        self._value = self._check(value)
        return True

    def _check(self, value: Any) -> Any:
        return value

    def setTooltip(self, text: str) -> None:
        self._tooltip = str(text)

    def tooltip(self) -> str:
        return self._tooltip

    def setEnabled(self, enabled: bool) -> None:
        self._enabled = bool(enabled)

    def enabled(self) -> bool:
        return self._enabled

    def node(self) -> Node | None:
        return self._node


class String_Knob(Knob):
    def __init__(self, name: str, label: str | None = None, text: str = "") -> None:
        super().__init__(name, label)
        self._value = self._check(text)

    def _check(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise TypeError(f"{self._name}: expected a string, got {type(value).__name__}")
        return value


class File_Knob(String_Knob):
    def __init__(self, name: str, label: str | None = None) -> None:
        super().__init__(name, label, "")


class Text_Knob(String_Knob):
    pass


class Tab_Knob(Knob):
    pass


class Int_Knob(Knob):
    def __init__(self, name: str, label: str | None = None) -> None:
        super().__init__(name, label)
        self._value = 0

    def _check(self, value: Any) -> Any:
        # Int_Knob.setValue: "@param val: The new value. Must be an integer." (Nuke 14 docstring, via
        # sisoe24/nuke-python-stubs stubs/nuke/classes/Int_Knob.py); Python >= 3.10 (Nuke 15+) refuses a float
        # for a C "int" argument with TypeError.
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{self._name}: expected an integer, got {type(value).__name__}")
        return int(value)


class Boolean_Knob(Knob):
    def __init__(self, name: str, label: str | None = None, value: bool = False) -> None:
        super().__init__(name, label)
        self._value = bool(value)

    def _check(self, value: Any) -> Any:
        return bool(value)


class Enumeration_Knob(Knob):
    """``value()`` is the selected item's text; ``setValue`` takes the text or the index."""

    def __init__(self, name: str, label: str | None, items: list[str]) -> None:
        super().__init__(name, label)
        self._items = [str(i) for i in items]
        self._value = self._items[0] if self._items else ""

    def values(self) -> list[str]:
        return list(self._items)

    def _check(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(self._items):
            return self._items[value]
        if value not in self._items:
            raise ValueError(f"{self._name}: {value!r} is not one of {self._items}")
        return value


class PyScript_Knob(Knob):
    """A button; ``execute()`` runs its Python code with ``nuke.thisNode()`` set to the owner."""

    def __init__(self, name: str, label: str | None = None, command: str = "") -> None:
        super().__init__(name, label)
        self._value = str(command)

    def execute(self) -> None:
        if self._node is None:
            raise RuntimeError(f"{self._name}: knob is not on a node")
        fake = self._node._fake
        previous, fake.this_node = fake.this_node, self._node
        try:
            exec(compile(self._value, f"<knob {self._name}>", "exec"), {"nuke": fake.module})
        finally:
            fake.this_node = previous


class _Button(Knob):
    """A built-in button knob (Read's ``reload``): ``execute()`` calls the owner's action."""

    def __init__(self, name: str, action: Callable[[], None]) -> None:
        super().__init__(name)
        self._action = action

    def execute(self) -> None:
        self._action()


class FrameRange:
    def __init__(self, first: int, last: int) -> None:
        self._first, self._last = int(first), int(last)

    def first(self) -> int:
        return self._first

    def last(self) -> int:
        return self._last


# ------------------------------------------------------------------------------------------------- nodes


class Node:
    """Base node: knobs, inputs, a parent container."""

    CLASS = "Node"
    MAX_INPUTS = 1

    def __init__(self, fake: FakeNuke, parent: Group | None) -> None:
        self._fake = fake
        self._parent = parent
        self._knobs: dict[str, Knob] = {}
        self._inputs: list[Node | None] = []
        self._name = ""
        self._deleted = False
        self._builtin_knobs()

    def __getattribute__(self, name: str) -> Any:
        # After nuke.delete(n) every use of the Python object raises, as in Nuke ("ValueError: A PythonObject is
        # not attached to a node", caught as ValueError by e.g. Psyop/Cryptomatte's gizmo code).
        if not name.startswith("_") and object.__getattribute__(self, "_deleted"):
            raise ValueError("A PythonObject is not attached to a node")
        return object.__getattribute__(self, name)

    def _builtin_knobs(self) -> None:
        pass

    def _add_builtin(self, knob: Knob, value: Any = None) -> None:
        if value is not None:
            knob.setValue(value)
        self.addKnob(knob)

    # naming
    def name(self) -> str:
        return self._name

    def setName(self, name: str, uncollide: bool = True, updateExpressions: bool = False) -> None:
        # Real signature: ``setName(name, uncollide=True, updateExpressions=False)`` -- the keyword is
        # ``uncollide`` and it defaults to True (sisoe24/nuke-python-stubs stubs/nuke/classes/Node.py, generated
        # from Nuke 14's own docstrings; same wording in the Foundry Python API reference). What real Nuke does
        # for a taken name with uncollide=False is not documented; the fake refuses it.
        siblings = {n.name() for n in (self._parent.nodes() if self._parent else []) if n is not self}
        if name in siblings:
            if not uncollide:
                raise ValueError(f"name {name!r} is already used")
            base = name.rstrip("0123456789")
            i = 1
            while f"{base}{i}" in siblings:
                i += 1
            name = f"{base}{i}"
        self._name = name

    def Class(self) -> str:
        return self.CLASS

    # knobs
    def knob(self, name: str) -> Knob | None:
        return self._knobs.get(name)

    def knobs(self) -> dict[str, Knob]:
        return dict(self._knobs)

    def __getitem__(self, name: str) -> Knob:
        if self._deleted:
            raise ValueError("A PythonObject is not attached to a node")
        if name not in self._knobs:
            raise NameError(f"knob {name} does not exist")
        return self._knobs[name]

    def addKnob(self, knob: Knob) -> None:
        if knob.name() in self._knobs:
            raise ValueError(f"{self._name}: knob {knob.name()} already exists")
        knob._node = self
        self._knobs[knob.name()] = knob

    # inputs
    def input(self, i: int) -> Node | None:
        return self._inputs[i] if 0 <= i < len(self._inputs) else None

    def maximumInputs(self) -> int:
        return self.MAX_INPUTS

    def setInput(self, i: int, node: Node | None) -> bool:
        # "Connect input i to node if canSetInput() returns true. @return: True if canSetInput() returns true"
        # (Node.setInput, Nuke 14 docstring via sisoe24/nuke-python-stubs): an input the node does not have
        # stays unconnected and False comes back.
        if node is not None and not 0 <= i < self.maximumInputs():
            return False
        while len(self._inputs) <= i:
            self._inputs.append(None)
        self._inputs[i] = node
        return True

    def inputs(self) -> int:
        # "Number of the highest connected input + 1. If inputs 0, 1, and 3 are connected, this will return 4."
        # (Node.inputs docstring, Nuke 14 via sisoe24/nuke-python-stubs stubs/nuke/classes/Node.py)
        return max((i + 1 for i, n in enumerate(self._inputs) if n is not None), default=0)

    # image
    def frameRange(self) -> FrameRange:
        up = self.input(0)
        if up is None:
            root = self._fake.root_node
            return FrameRange(root["first_frame"].value(), root["last_frame"].value())
        return up.frameRange()

    def channels(self) -> list[str]:
        return sorted(self._fake.pixels(self, self.frameRange().first()))

    def _pixels(self, frame: int) -> dict[str, np.ndarray]:
        raise NotImplementedError(f"fake nuke: {self.CLASS} nodes produce no pixels")

    def _required(self, i: int) -> Node:
        up = self.input(i)
        if up is None:
            raise RuntimeError(f"{self._name}: input {i} is not connected")
        return up


class Group(Node):
    CLASS = "Group"

    def __init__(self, fake: FakeNuke, parent: Group | None) -> None:
        super().__init__(fake, parent)
        self._children: list[Node] = []

    def maximumInputs(self) -> int:
        # A Group has one input per Input node inside: a Group made in Python starts with none, so createNode
        # cannot connect it to the selection (public Nuke tools connect such a Group after adding its Inputs).
        return sum(1 for n in self._children if n.CLASS == "Input")

    def begin(self) -> None:
        self._fake.context.append(self)

    def end(self) -> None:
        if self._fake.context[-1] is not self:
            raise RuntimeError(f"{self._name}.end() without a matching begin()")
        self._fake.context.pop()

    def node(self, name: str) -> Node | None:
        return next((n for n in self._children if n.name() == name), None)

    def nodes(self) -> list[Node]:
        return list(self._children)

    def _pixels(self, frame: int) -> dict[str, np.ndarray]:
        out = next((n for n in self._children if n.CLASS == "Output"), None)
        if out is None:
            raise RuntimeError(f"{self._name}: group has no Output node")
        return self._fake.pixels(out, frame)


class Root(Group):
    CLASS = "Root"

    def _builtin_knobs(self) -> None:
        self._add_builtin(File_Knob("name"))
        self._add_builtin(Int_Knob("first_frame"), 1)
        self._add_builtin(Int_Knob("last_frame"), 100)


class Input(Node):
    CLASS = "Input"
    MAX_INPUTS = 0

    def _builtin_knobs(self) -> None:
        number = sum(1 for n in (self._parent.nodes() if self._parent else []) if n.CLASS == "Input")
        self._add_builtin(Int_Knob("number"), number)

    def frameRange(self) -> FrameRange:
        up = self._parent.input(self["number"].value()) if self._parent else None
        return up.frameRange() if up is not None else super().frameRange()

    def _pixels(self, frame: int) -> dict[str, np.ndarray]:
        number = self["number"].value()
        up = self._parent.input(number) if self._parent else None
        if up is None:
            raise RuntimeError(f"fake nuke: {self._name}: group input {number} is not connected")
        return self._fake.pixels(up, frame)


class Output(Node):
    CLASS = "Output"

    def _pixels(self, frame: int) -> dict[str, np.ndarray]:
        return self._fake.pixels(self._required(0), frame)


class Switch(Node):
    CLASS = "Switch"
    MAX_INPUTS = 10000

    def _builtin_knobs(self) -> None:
        self._add_builtin(Int_Knob("which"), 0)

    def _pixels(self, frame: int) -> dict[str, np.ndarray]:
        which = min(max(self["which"].value(), 0), max(self.inputs() - 1, 0))
        return self._fake.pixels(self._required(which), frame)


class Copy(Node):
    """Copies channel ``from<i>`` of input A (1) into channel ``to<i>`` of input B (0); absent = black."""

    CLASS = "Copy"
    MAX_INPUTS = 3  # B, A, mask

    def _builtin_knobs(self) -> None:
        for i in range(4):
            self._add_builtin(String_Knob(f"from{i}", text="none"))
            self._add_builtin(String_Knob(f"to{i}", text="none"))

    def _pixels(self, frame: int) -> dict[str, np.ndarray]:
        b = dict(self._fake.pixels(self._required(0), frame))
        a_node = self.input(1)
        if a_node is None:
            return b
        a = self._fake.pixels(a_node, frame)
        shape = next(iter(b.values())).shape
        for i in range(4):
            src, dst = self[f"from{i}"].value(), self[f"to{i}"].value()
            if src != "none" and dst != "none":
                b[dst] = a[src].copy() if src in a else np.zeros(shape, np.float32)
        return b


class Write(Node):
    CLASS = "Write"

    def _builtin_knobs(self) -> None:
        self._add_builtin(File_Knob("file"))
        self._add_builtin(Enumeration_Knob("file_type", "file type", ["", "exr", "png", "tiff", "jpeg"]))
        self._add_builtin(Enumeration_Knob("datatype", "datatype", ["16 bit half", "32 bit float"]))
        self._add_builtin(String_Knob("channels", text="rgb"))
        self._add_builtin(Boolean_Knob("raw"))
        self._add_builtin(Boolean_Knob("disable"))

    def _pixels(self, frame: int) -> dict[str, np.ndarray]:
        return self._fake.pixels(self._required(0), frame)


class Read(Node):
    CLASS = "Read"
    MAX_INPUTS = 0

    def _builtin_knobs(self) -> None:
        self._add_builtin(File_Knob("file"))
        for name in ("first", "last", "origfirst", "origlast"):
            self._add_builtin(Int_Knob(name), 1)
        self._add_builtin(Boolean_Knob("raw"))
        self._add_builtin(Enumeration_Knob("on_error", "missing frames", ["error", "black", "checkerboard",
                                                                          "nearest frame"]))
        self._add_builtin(_Button("reload", self._reload))
        self.reloads = 0  # test-visible count of reload presses

    def _reload(self) -> None:
        self.reloads += 1

    def frameRange(self) -> FrameRange:
        return FrameRange(self["first"].value(), self["last"].value())

    def _pixels(self, frame: int) -> dict[str, np.ndarray]:
        frame = min(max(frame, self["first"].value()), self["last"].value())
        path = format_frame(self["file"].value(), frame)
        if not Path(path).is_file():
            raise RuntimeError(f"{self._name}: Read error: {path}: No such file or directory")
        buf = oiio.ImageBuf(path)
        pixels = buf.get_pixels(oiio.FLOAT)
        if buf.has_error or pixels is None:
            raise RuntimeError(f"{self._name}: Read error: {path}: {buf.geterror()}")
        data = np.asarray(pixels, np.float32).reshape(buf.spec().height, buf.spec().width, -1)
        return {_FROM_DISK.get(n, n): data[..., i].copy() for i, n in enumerate(buf.spec().channelnames)}


_CLASSES: dict[str, type[Node]] = {c.CLASS: c for c in (Group, Input, Output, Copy, Write, Read, Switch)}


# ------------------------------------------------------------------------------------------- module bits


class ProgressTask:
    """Records what the adapter shows; ``isCancelled()`` follows :attr:`FakeNuke.cancel_when` (latched)."""

    def __init__(self, fake: FakeNuke, name: str) -> None:
        self._fake = fake
        self.title = name
        self.messages: list[str] = []
        self.progress: list[int] = []
        self._cancelled = False
        self.thread = threading.current_thread()

    def setMessage(self, text: str) -> None:
        self.messages.append(str(text))

    def setProgress(self, value: int) -> None:
        if not isinstance(value, int):
            raise TypeError(f"setProgress expects an int, got {type(value).__name__}")
        self.progress.append(value)

    def isCancelled(self) -> bool:
        if not self._cancelled and self._fake.cancel_when is not None:
            self._cancelled = bool(self._fake.cancel_when(self))
        return self._cancelled


class Menu:
    def __init__(self, name: str) -> None:
        self.title = name
        self.items: dict[str, Menu | str] = {}

    def addMenu(self, name: str, icon: str = "") -> Menu:
        sub = self.items.get(name)
        if not isinstance(sub, Menu):
            sub = Menu(name)
            self.items[name] = sub
        return sub

    def addCommand(self, name: str, command: str | Callable[[], Any] = "", shortcut: str = "",
                   icon: str = "") -> None:
        self.items[name] = command if isinstance(command, str) else repr(command)


class FakeNuke:
    """State of one fake Nuke session and the ``nuke`` module bound to it (:attr:`module`).

    Attributes:
        module: the object to put in ``sys.modules["nuke"]``.
        root_node: the script's Root.
        context: the Group stack (``begin``/``end``); new nodes go into the last one.
        messages: every ``nuke.message`` text, in order.
        executed: ``(node name, first, last, incr)`` of every ``nuke.execute`` call.
        progress_tasks: every ProgressTask created.
        cancel_when: None, or a predicate on a ProgressTask that says "the artist pressed Cancel".
        cancel_execute_at: None, or the frame at which the artist presses Cancel in ``execute``'s progress
            dialog (the frames before it are written).
        selected: the node ``createNode`` connects to.
        menus: menus created through ``nuke.menu``.
    """

    def __init__(self, *, gui: bool = False) -> None:
        self.root_node = Root(self, None)
        self.root_node._name = "root"
        self.context: list[Group] = [self.root_node]
        self.messages: list[str] = []
        self.executed: list[tuple[str, int, int, int]] = []
        self.progress_tasks: list[ProgressTask] = []
        self.cancel_when: Callable[[ProgressTask], bool] | None = None
        self.cancel_execute_at: int | None = None
        self.selected: Node | None = None
        self.menus: dict[str, Menu] = {}
        self.this_node: Node | None = None
        self._main_queue: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []
        self._lock = threading.Lock()
        self.module = self._build_module(gui)

    # -- module
    def _build_module(self, gui: bool) -> types.ModuleType:
        m = types.ModuleType("nuke", "FAKE nuke module for tests (tests/hosts/fake_nuke); not Nuke.")
        m.nodes = types.SimpleNamespace(**{name: self._constructor(name) for name in _CLASSES})
        m.createNode = self.createNode
        m.root = lambda: self.root_node
        m.toNode = self.toNode
        m.selectedNode = self.selectedNode
        m.thisNode = lambda: self.this_node if self.this_node is not None else self.root_node
        m.execute = self.execute
        m.message = self.messages.append
        m.ProgressTask = self._progress_task
        m.executeInMainThread = self.executeInMainThread
        m.env = {"gui": gui, "NukeVersionMajor": 15}
        m.menu = self.menu
        m.delete = self.delete
        m.FrameRange = FrameRange
        m.Knob, m.Node = Knob, Node
        for cls in (Tab_Knob, Text_Knob, String_Knob, File_Knob, Int_Knob, Boolean_Knob, Enumeration_Knob,
                    PyScript_Knob):
            setattr(m, cls.__name__, cls)
        return m

    def _constructor(self, cls_name: str) -> Callable[..., Node]:
        def make(**knob_values: Any) -> Node:
            parent = self.context[-1]
            node = _CLASSES[cls_name](self, parent)
            count = sum(1 for n in parent.nodes() if n.CLASS == cls_name) + 1
            node.setName(str(knob_values.pop("name", f"{cls_name}{count}")))
            for k, v in knob_values.items():
                node[k].setValue(v)
            parent._children.append(node)
            return node
        make.__name__ = cls_name
        return make

    def createNode(self, node_class: str, args: str = "", inpanel: bool = True) -> Node:
        # Real signature: createNode(node, args, inpanel) -> Node, ``args`` a TCL list of knob/value pairs
        # (Nuke 14 docstring via sisoe24/nuke-python-stubs stubs/nuke/__init__.py); the fake ignores ``args``.
        if node_class not in _CLASSES:
            raise RuntimeError(f"{node_class}: unknown command")
        node = getattr(self.module.nodes, node_class)()
        if self.selected is not None:
            node.setInput(0, self.selected)  # refused (False) when the new node has no input 0
        return node

    def delete(self, node: Node) -> None:
        """``nuke.delete(n)``: remove the node (and a Group's insides) from the script."""
        if node._parent is not None:
            node._parent._children.remove(node)
        stack = [node]
        while stack:
            n = stack.pop()
            n._deleted = True
            stack.extend(n._children if isinstance(n, Group) else [])

    def selectedNode(self) -> Node:
        """``nuke.selectedNode()``: the selected node; ValueError("No node selected") without one (as Nuke)."""
        if self.selected is None:
            raise ValueError("No node selected")
        return self.selected

    def toNode(self, name: str) -> Node | None:
        return self.context[-1].node(name)

    def menu(self, name: str) -> Menu:
        # nuke.menu: ":raises: RuntimeError: if Nuke isn't in GUI mode." (Nuke 14 docstring via
        # sisoe24/nuke-python-stubs stubs/nuke/__init__.py)
        if not self.module.env["gui"]:
            raise RuntimeError("menu: Nuke is not in GUI mode")
        return self.menus.setdefault(name, Menu(name))

    def _progress_task(self, name: str) -> ProgressTask:
        task = ProgressTask(self, name)
        with self._lock:
            self.progress_tasks.append(task)
        return task

    def executeInMainThread(self, call: Callable[..., Any], args: Any = (), kwargs: dict[str, Any] | None = None
                            ) -> None:
        args = args if isinstance(args, tuple) else (args,)  # as nuke_internal/executeInMain.py does
        with self._lock:
            self._main_queue.append((call, args, dict(kwargs or {})))

    def run_main_thread_queue(self) -> int:
        """Run the queued ``executeInMainThread`` calls (what Nuke's event loop does); returns how many ran."""
        with self._lock:
            queued, self._main_queue = self._main_queue, []
        for call, args, kwargs in queued:
            call(*args, **kwargs)
        return len(queued)

    # -- pixels and execute
    def pixels(self, node: Node, frame: int) -> dict[str, np.ndarray]:
        """Channels of ``node``'s output at ``frame`` (full names -> (H, W) float32, top-down)."""
        return node._pixels(frame)

    def execute(self, node: Node | str, first: int, last: int, incr: int = 1) -> None:
        write = self.toNode(node) if isinstance(node, str) else node
        if not isinstance(write, Write):
            raise RuntimeError(f"{node if isinstance(node, str) else node.name()} cannot be executed")
        if write["disable"].value():
            raise RuntimeError(f"{write.name()}: node is disabled")
        if write["file_type"].value() != "exr":
            raise RuntimeError(f"{write.name()}: fake nuke writes EXR only")
        self.executed.append((write.name(), int(first), int(last), int(incr)))
        for frame in range(int(first), int(last) + 1, int(incr)):
            if self.cancel_execute_at is not None and frame >= self.cancel_execute_at:
                raise RuntimeError("Cancelled")
            self._write_exr(write, frame)

    def _write_exr(self, write: Write, frame: int) -> None:
        channels = self.pixels(write._required(0), frame)
        wanted = write["channels"].value()
        if wanted == "all":
            names = [n for n in _DISK_NAMES if n in channels] + sorted(n for n in channels if n not in _DISK_NAMES)
        elif wanted in ("rgba", "rgb"):
            names = [n for n in _DISK_NAMES if n in channels and (wanted == "rgba" or n != "rgba.alpha")]
        else:
            raise RuntimeError(f"{write.name()}: fake nuke knows channels all, rgba, rgb only, got {wanted!r}")
        path = format_frame(write["file"].value(), frame)
        if not Path(path).parent.is_dir():
            raise RuntimeError(f"{write.name()}: Can't open output file {path}: No such file or directory")
        h, w = channels[names[0]].shape
        data = np.ascontiguousarray(np.stack([channels[n] for n in names], axis=-1), dtype=np.float32)
        half = write["datatype"].value() == "16 bit half"
        spec = oiio.ImageSpec(w, h, len(names), oiio.HALF if half else oiio.FLOAT)
        spec.channelnames = tuple(_DISK_NAMES.get(n, n) for n in names)
        spec.alpha_channel = names.index("rgba.alpha") if "rgba.alpha" in names else -1
        out = oiio.ImageOutput.create(path)
        if out is None or not out.open(path, spec) or not out.write_image(data):
            raise RuntimeError(f"{write.name()}: cannot write {path}: {oiio.geterror()}")
        out.close()


def install(monkeypatch: Any, *, gui: bool = False) -> FakeNuke:
    """Put a fresh fake ``nuke`` in ``sys.modules`` and make ``fav_nuke`` importable (undone after the test).

    The Nuke-facing adapter modules are dropped from ``sys.modules`` so they re-import against this fake.
    """
    import sys

    fake = FakeNuke(gui=gui)
    monkeypatch.setitem(sys.modules, "nuke", fake.module)
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[3] / "hosts" / "nuke"))
    for name in ("node", "render"):
        monkeypatch.delitem(sys.modules, f"fav_nuke.{name}", raising=False)
        if "fav_nuke" in sys.modules:
            monkeypatch.delattr(sys.modules["fav_nuke"], name, raising=False)
    return fake
