"""The one exception tree: the drawing in ``eessi.errors`` is every exception class there is.

Like httpx's test of its exception hierarchy, but walking the whole package: a class defined
anywhere in ``eessi`` and left out of the drawing (or drawn under the wrong parent, or drawn and
gone) fails here.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import eessi
from eessi import errors
from eessi.errors import EessiError

#: Modules not imported by the walk: running them is their whole point.
_NOT_IMPORTED = {"eessi.__main__"}


def _modules() -> list[str]:
    names = [
        info.name
        for info in pkgutil.walk_packages(eessi.__path__, prefix="eessi.")
        if info.name not in _NOT_IMPORTED
    ]
    return sorted(names)


def _defined_exceptions() -> set[type[BaseException]]:
    """Every exception class of the package, after importing every module of it."""
    for name in _modules():
        importlib.import_module(name)
    found: set[type[BaseException]] = set()
    todo: list[type[BaseException]] = [BaseException]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__module__.split(".")[0] == "eessi" and sub not in found:
                found.add(sub)
            todo.append(sub)
    return found


def _drawn_tree() -> dict[type[BaseException], type[BaseException] | None]:
    """The tree drawn in ``eessi.errors``'s docstring: each class and its drawn parent."""
    doc = errors.__doc__
    assert doc is not None
    lines = doc.splitlines()
    start = lines.index("    EessiError")
    tree: dict[type[BaseException], type[BaseException] | None] = {EessiError: None}
    stack: list[type[BaseException]] = [EessiError]
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        body = line[4:]
        branch = min(i for i in (body.find("├── "), body.find("└── ")) if i >= 0)
        depth = branch // 4 + 1
        name = body[branch + 4 :].split()[0]
        module, _, attr = name.rpartition(".")
        owner = importlib.import_module(f"eessi.{module}" if module else "eessi.errors")
        cls = getattr(owner, attr, None)
        assert isinstance(cls, type), f"drawn {name!r} is not a class of {owner.__name__}"
        assert cls.__module__ == owner.__name__, f"{name} is drawn under the wrong module"
        assert cls not in tree, f"{name} is drawn twice"
        del stack[depth:]
        assert len(stack) == depth, f"{name}: the drawing skips a level"
        tree[cls] = stack[-1]
        stack.append(cls)
    return tree


def _label(cls: type[BaseException]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def test_every_exception_class_of_the_package_is_drawn_in_the_tree() -> None:
    drawn = _drawn_tree()
    missing = sorted(_label(c) for c in _defined_exceptions() - drawn.keys())
    assert missing == [], "add these to the tree drawn in eessi/errors.py"
    gone = sorted(_label(c) for c in drawn.keys() - _defined_exceptions())
    assert gone == [], "these are drawn but not defined in eessi"


def test_every_exception_class_is_under_eessi_error_where_the_drawing_puts_it() -> None:
    for cls, parent in _drawn_tree().items():
        assert issubclass(cls, EessiError), _label(cls)
        if parent is not None:
            assert cls.__bases__ == (parent,), f"{_label(cls)} is drawn under {_label(parent)}"


def test_the_public_errors_are_exported_from_eessi_errors() -> None:
    own = {c.__name__ for c in _drawn_tree() if c.__module__ == "eessi.errors"}
    assert own == set(errors.__all__)


def test_no_exception_class_is_defined_inside_a_function() -> None:
    # The walk above only sees classes that exist after import; one made by a function call
    # would escape it, so such classes are refused by their source.
    root = Path(eessi.__file__).parent
    hidden: list[str] = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.ClassDef) and any(
                    ast.unparse(b).endswith(("Error", "Exception")) for b in node.bases
                ):
                    hidden.append(f"{path.relative_to(root)}:{node.lineno} {node.name}")
    assert hidden == []


@pytest.mark.parametrize(
    "cls",
    sorted((c for c in _drawn_tree() if c.__module__ == "eessi.errors"), key=_label),
    ids=lambda c: c.__name__,
)
def test_each_public_error_has_its_own_stable_code(cls: type[EessiError]) -> None:
    err = cls("what went wrong", where="here", hint="what to do")
    assert err.to_dict() == {
        "code": cls.code,
        "message": "what went wrong",
        "where": "here",
        "hint": "what to do",
    }
    codes = [c.code for c in _drawn_tree() if c.__module__ == "eessi.errors"]
    assert codes.count(cls.code) == 1
