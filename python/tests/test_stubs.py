"""The type stubs (mmsb/__init__.pyi) name every public name and method of the module."""

import ast
import inspect
import pathlib

import mmsb


def stub_tree():
    source = pathlib.Path(mmsb.__file__).with_name("__init__.pyi").read_text()
    tree = ast.parse(source)
    names, classes = set(), {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names.add(node.name)
            classes[node.name] = node
        elif isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, (ast.AnnAssign, ast.Assign)):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names, classes


def members(cls_node, classes):
    """The names a stub class declares, its stub bases' included."""
    found = set()
    for item in cls_node.body:
        if isinstance(item, ast.FunctionDef):
            found.add(item.name)
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            found.add(item.target.id)
    for base in cls_node.bases:
        if isinstance(base, ast.Name) and base.id in classes:
            found |= members(classes[base.id], classes)
    return found


def test_every_public_name_has_a_stub():
    names, _ = stub_tree()
    assert set(mmsb.__all__) - names == set()


def test_every_public_method_has_a_stub():
    _, classes = stub_tree()
    missing = {}
    for name in mmsb.__all__:
        value = getattr(mmsb, name)
        if not inspect.isclass(value) or issubclass(value, BaseException):
            continue
        declared = members(classes[name], classes)
        public = {m for m in vars(value) if not m.startswith("_") or m in ("__enter__", "__exit__")}
        if public - declared:
            missing[name] = sorted(public - declared)
    assert missing == {}


def test_every_public_callable_has_a_docstring():
    undocumented = []
    for name in mmsb.__all__:
        value = getattr(mmsb, name)
        if inspect.isclass(value) and not (value.__doc__ or "").strip():
            undocumented.append(name)
    assert undocumented == []
