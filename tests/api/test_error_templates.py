"""Every DomainError is built from a marked template (`Invalid(N_("... {name}"), name=x)`), never
from an English literal or f-string: a literal has no catalogue entry, so the API would answer it
in English whatever Accept-Language says. The scan reads the source (AST), so it also covers
raise sites that no test reaches."""

from __future__ import annotations

import ast
from pathlib import Path

from soc.core.errors import DomainError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("soc", "tenants", "ingest", "detections", "risk", "kri")

# "file: source line" of a construction that may keep a literal -> why.
ALLOWED: dict[str, str] = {}


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def error_classes(modules: dict[str, ast.Module]) -> set[str]:
    """DomainError and every class deriving from one, by name, across the modules."""
    found = {"DomainError", *(cls.__name__ for cls in DomainError.__subclasses__())}
    classes = [
        (node.name, {_name(base) for base in node.bases})
        for module in modules.values()
        for node in ast.walk(module)
        if isinstance(node, ast.ClassDef)
    ]
    grew = True
    while grew:
        grew = False
        for name, bases in classes:
            if name not in found and bases & found:
                found.add(name)
                grew = True
    return found


def _init_first_arg(node: ast.ClassDef) -> str | None:
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            args = item.args.posonlyargs + item.args.args
            return args[1].arg if len(args) > 1 else ""
    return None


def without_message(modules: dict[str, ast.Module], classes: set[str]) -> set[str]:
    """Error classes whose first argument is no message (their own `__init__` names it
    otherwise, e.g. an audit reason code; the message is then the class's default)."""
    defs = {
        node.name: node
        for module in modules.values()
        for node in ast.walk(module)
        if isinstance(node, ast.ClassDef) and node.name in classes
    }
    found: set[str] = set()

    def first_arg(name: str, seen: frozenset[str] = frozenset()) -> str | None:
        node = defs.get(name)
        if node is None or name in seen:
            return "message"
        own = _init_first_arg(node)
        if own is not None:
            return own
        for base in node.bases:
            base_name = _name(base)
            if base_name in classes:
                return first_arg(base_name, seen | {name})
        return "message"

    for name in defs:
        if first_arg(name) != "message":
            found.add(name)
    return found


def _literal(node: ast.expr) -> bool:
    """English the catalogue cannot know: a string or f-string, joined or formatted."""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.BinOp):  # "a" + b, "a %s" % b
        return _literal(node.left) or _literal(node.right)
    if isinstance(node, ast.IfExp):
        return _literal(node.body) or _literal(node.orelse)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr in {"format", "join"} and _literal(node.func.value)
    return False


def _untranslatable(message: ast.expr) -> bool:
    if isinstance(message, ast.Call) and _name(message.func) == "N_":
        # Only a plain string inside N_ is a message id.
        return not (
            len(message.args) == 1
            and isinstance(message.args[0], ast.Constant)
            and isinstance(message.args[0].value, str)
        )
    return _literal(message)


def untemplated(sources: dict[str, str]) -> list[str]:
    """`file:line: source` of each DomainError built from a literal or an f-string."""
    modules = {file: ast.parse(text, file) for file, text in sources.items()}
    classes = error_classes(modules)
    classes -= without_message(modules, classes)
    found: list[tuple[str, int, str]] = []
    for file, module in modules.items():
        lines = sources[file].splitlines()
        for node in ast.walk(module):
            if not (isinstance(node, ast.Call) and _name(node.func) in classes):
                continue
            messages = node.args[:1] + [k.value for k in node.keywords if k.arg == "message"]
            if any(_untranslatable(message) for message in messages):
                text = lines[node.lineno - 1].strip()
                if f"{file}: {text}" not in ALLOWED:
                    found.append((file, node.lineno, text))
    return [f"{file}:{line}: {text}" for file, line, text in sorted(found)]


def test_every_domain_error_is_raised_as_a_marked_template() -> None:
    sources = {
        str(path.relative_to(ROOT)): path.read_text("utf-8")
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert len(sources) > 100
    found = untemplated(sources)
    assert not found, (
        f"{len(found)} DomainErrors built from English text; raise them as "
        "Invalid(N_('... {name} ...'), name=value) and add the Dutch with scripts/translate.py:\n"
        + "\n".join(found)
    )


def test_the_scan_finds_literals_and_f_strings_in_subclasses_too() -> None:
    source = """
from soc.core.errors import Invalid
from soc.core.i18n import N_
class Mine(Invalid):
    pass
class Yours(Mine):
    pass
def bad(x):
    raise Invalid(f"bad {x}")
    raise Yours("bad " + x)
    raise Invalid(N_(f"bad {x}"))
    raise Mine(message="bad")
    return Invalid("bad {x}".format(x=x))
class Coded(Invalid):
    def __init__(self, reason, detail=""):
        super().__init__()
class Coded2(Coded):
    pass
def good(x, message):
    raise Yours(N_("bad {x}"), x=x)
    raise Coded2("reason_code", f"detail {x}")
    raise Invalid(message)
    raise Invalid()
"""
    found = untemplated({"x.py": source})
    assert [line.split(": ", 1)[1] for line in found] == [
        'raise Invalid(f"bad {x}")',
        'raise Yours("bad " + x)',
        'raise Invalid(N_(f"bad {x}"))',
        'raise Mine(message="bad")',
        'return Invalid("bad {x}".format(x=x))',
    ]
