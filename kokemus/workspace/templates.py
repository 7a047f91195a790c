"""Rule templates (emails, notices, webhook bodies): Jinja2's immutable sandbox, bounded.

The sandbox keeps a template away from Python's objects. A workspace editor writes the
template and one worker delivers every workspace's actions, so it must not be able to take
the worker's memory or time either. The bounds:

- no value a template makes (a filter's or a method's result, `+`, `*`, `~`) and no output
  is longer than MAX_LENGTH characters or items, and all it makes in one render together
  stay under MAX_MADE (a `map` over many items makes many values); where a result would be
  allocated before it could be measured (`join`, `replace`, `indent`, `*`, `**`), its size
  is worked out first;
- a loop runs over at most MAX_ITEMS items (a `range` or the data's own list), loops nest at
  most MAX_DEPTH deep, and nothing hides a loop inside another: macros, call and filter
  blocks, blocks, block assignments, recursive loops, includes and `namespace` (state that
  survives an iteration) are refused;
- only filters and methods that these bounds cover exist (no `format` or `str.format`,
  `lipsum`, `random`).

So a template does at most MAX_ITEMS ** MAX_DEPTH iterations of bounded work: seconds
at worst. `problem` tells the editor at save time what the worker would refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextvars import ContextVar
from functools import cache
from itertools import islice
from typing import Any

from jinja2 import Undefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError, TemplateError, TemplateRuntimeError
from jinja2.filters import FILTERS
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_environment

from kokemus.domain.errors import Problem
from kokemus.domain.rules import CallWebhook, Notify, SendEmail
from kokemus.domain.texts import Text
from kokemus.domain.workspace import Workspace

MAX_LENGTH = 64 * 1024  # characters of a value or of the output
MAX_ITEMS = 200  # items of one loop
MAX_DEPTH = 2  # loops inside loops
MAX_EXPONENT = 64
MAX_MADE = 4 * 2**20  # characters or items made by one render, all values together
LOOP_ITEMS = "_kokemus_loop_items"  # the global every loop runs over; data cannot shadow it

REFUSED_NODES: dict[type[nodes.Node], str] = {
    nodes.Macro: "macros", nodes.CallBlock: "call blocks", nodes.FilterBlock: "filter blocks",
    nodes.Block: "blocks", nodes.AssignBlock: "block assignments ({% set %}...{% endset %})",
    nodes.Extends: "extends", nodes.Include: "include", nodes.Import: "import",
    nodes.FromImport: "import",
}
FILTERS_KEPT = ["abs", "attr", "capitalize", "center", "count", "d", "default", "dictsort", "e",
                "escape", "filesizeformat", "first", "float", "forceescape", "groupby", "indent",
                "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min",
                "reject", "rejectattr", "replace", "reverse", "round", "safe", "select",
                "selectattr", "sort", "string", "striptags", "sum", "title", "tojson", "trim",
                "truncate", "unique", "upper", "urlencode", "urlize", "wordcount", "wordwrap"]
METHODS_KEPT: dict[type, frozenset[str]] = {
    str: frozenset(["capitalize", "count", "endswith", "find", "isalnum", "isalpha", "isdigit",
                    "islower", "isupper", "lower", "lstrip", "rstrip", "split", "splitlines",
                    "startswith", "strip", "title", "upper"]),
    dict: frozenset({"get", "items", "keys", "values"}),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
}


class Refused(SecurityError):
    """A template, or what it makes, beyond the bounds."""


_made: ContextVar[list[int]] = ContextVar("made")  # what this render has made so far


def _sized(value: Any) -> Any:
    if isinstance(value, str | list | tuple | dict):
        _fits(len(value))
    return value


def _fits(length: int) -> None:
    """Counts a value of `length` against the bounds: its own, and all this render made."""
    if length > MAX_LENGTH:
        raise Refused(f"a value longer than {MAX_LENGTH:,} characters or items")
    made = _made.get(None)
    if made is not None:
        made[0] += length
        if made[0] > MAX_MADE:
            raise Refused(f"the template makes more than {MAX_MADE:,} characters in all")


class _Blank(Undefined):
    """A name the data lacks renders empty (a customer without a name is common)."""


class _Generator(CodeGenerator):
    """Compiles `a ~ b` to the environment's measured join instead of a plain one."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.joined((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class = _Generator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self) -> None:
        super().__init__(undefined=_Blank, autoescape=False, keep_trailing_newline=True,
                         finalize=lambda value: "" if value is None else value)
        self.filters = {name: _measured(FILTERS[name]) for name in FILTERS_KEPT}
        self.filters.update(join=_join, replace=_replace, indent=_indent, center=_center,
                            sum=_sum)
        self.globals = {"range": _range, "dict": dict, LOOP_ITEMS: _items}

    def joined(self, parts: Iterable[Any]) -> str:
        texts = [str(part) for part in parts]
        _fits(sum(map(len, texts)))
        return "".join(texts)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str):
            raise Refused("% formatting of text (write the value in place)")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    _fits(len(seq) * max(times, 0))
        if operator == "**" and isinstance(right, int) and abs(right) > MAX_EXPONENT:
            raise Refused(f"an exponent over {MAX_EXPONENT}")
        return _sized(super().call_binop(context, operator, left, right))

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if callable(value):
            kept = next((names for kind, names in METHODS_KEPT.items()
                         if isinstance(obj, kind)), frozenset())
            if attr not in kept:
                return False
        return super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value: Any) -> None:
        """str.format can pad to any width before anything is measured: not offered (the
        attribute check then refuses it)."""
        return None

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        return _sized(super().call(__context, __obj, *args, **kwargs))


def _measured(function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter whose result is measured (the kept filters make at most a few times their
    input, so measuring after is safe); the wrapper keeps Jinja's pass_* marks."""

    def measured(*args: Any, **kwargs: Any) -> Any:
        return _sized(function(*args, **kwargs))

    measured.__dict__.update(getattr(function, "__dict__", {}))  # jinja_pass_arg
    return measured


@pass_environment
def _join(environment: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    listed = list(islice(iter(value), MAX_LENGTH + 1))
    _fits(len(listed))
    if attribute is not None:
        listed = [environment.getitem(item, attribute) for item in listed]
    items = [str(item) for item in listed]
    _fits(sum(map(len, items)) + len(d) * max(len(items) - 1, 0))
    return d.join(items)


def _replace(value: Any, old: str, new: str, count: int | None = None) -> str:
    text, old, new = str(value), str(old), str(new)
    times = (len(text) + 1) if not old else text.count(old)
    if count is not None and count >= 0:
        times = min(times, count)
    _fits(len(text) + times * (len(new) - len(old)))
    return text.replace(old, new, -1 if count is None else count)


def _indent(value: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text = str(value)
    pad = width if isinstance(width, str) else " " * min(max(width, 0), MAX_LENGTH + 1)
    _fits(len(text) + len(pad) * (text.count("\n") + 1))
    indent_filter: Callable[..., str] = FILTERS["indent"]
    return indent_filter(text, width, first, blank)


def _center(value: Any, width: int = 80) -> str:
    _fits(width)
    return str(value).center(width)


@pass_environment
def _sum(environment: Any, iterable: Iterable[Any], attribute: Any = None,
         start: int | float = 0) -> Any:
    """Numbers only: a sum of lists or texts would copy them over and over."""
    if not isinstance(start, int | float):
        raise Refused("sum adds numbers only")
    sum_filter: Callable[..., Any] = FILTERS["sum"]
    return sum_filter(environment, iterable, attribute, start)


def _range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_ITEMS:
        raise Refused(f"a range of more than {MAX_ITEMS} numbers")
    return numbers


def _items(value: Any) -> list[Any]:
    """What a loop runs over: at most MAX_ITEMS items."""
    if isinstance(value, Undefined) or value is None:
        return []
    if isinstance(value, dict):
        value = list(value)
    taken = list(islice(iter(value), MAX_ITEMS + 1))
    if len(taken) > MAX_ITEMS:
        raise Refused(f"a loop over more than {MAX_ITEMS} items")
    return taken


_env = BoundedEnvironment()


def _checked(tree: nodes.Template) -> nodes.Template:
    """Refuses what the bounds cannot cover and makes every loop run over LOOP_ITEMS."""
    for kind, what in REFUSED_NODES.items():
        if tree.find(kind) is not None:
            raise Refused(f"{what} are not allowed in a rule template")
    for name in tree.find_all(nodes.Name):
        if name.name == "namespace":
            raise Refused("namespace is not allowed in a rule template")

    def visit(node: nodes.Node, depth: int) -> None:
        if isinstance(node, nodes.For):
            if node.recursive:
                raise Refused("recursive loops are not allowed in a rule template")
            if depth + 1 > MAX_DEPTH:
                raise Refused(f"loops nest at most {MAX_DEPTH} deep in a rule template")
            node.iter = nodes.Call(nodes.Name(LOOP_ITEMS, "load"), [node.iter], [], None, None)
            depth += 1
        for child in node.iter_child_nodes():
            visit(child, depth)

    visit(tree, 0)
    return tree


@cache
def _compiled(source: str) -> Any:
    return _env.from_string(_checked(_env.parse(source)))


def compile_template(source: str) -> Any:
    """The bounded template of `source` (cached); TemplateError when it is not one."""
    if len(source) > MAX_LENGTH:
        raise Refused(f"a template longer than {MAX_LENGTH:,} characters")
    if _compiled.cache_info().currsize > 1000:
        _compiled.cache_clear()
    return _compiled(source)


def render(source: str, context: dict[str, Any]) -> str:
    """`source` rendered from plain data within the bounds (TemplateError otherwise)."""
    template = compile_template(source)
    out: list[str] = []
    length = 0
    token = _made.set([0])
    try:
        for piece in template.generate(context):
            length += len(piece)
            if length > MAX_LENGTH:
                raise Refused(f"an output longer than {MAX_LENGTH:,} characters")
            out.append(piece)
    except TemplateError:
        raise
    except Exception as exc:  # 1/0, a loop over a number...: the template's fault, not ours
        raise TemplateRuntimeError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        _made.reset(token)
    return "".join(out)


def problem(source: str) -> str | None:
    """What is wrong with a template, in one line, or None: what an editor sees on save."""
    try:
        compile_template(source)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        return f"template{where}: {str(exc.message or exc).splitlines()[0]}"
    return None


def workspace_problems(workspace: Workspace) -> list[Problem]:
    """Every rule template the worker would refuse, located in the workspace document."""
    found: list[Problem] = []
    for i, rule in enumerate(workspace.rules):
        for j, action in enumerate(rule.actions):
            if not isinstance(action, SendEmail | Notify | CallWebhook):
                continue
            for field in ("subject", "body"):
                text: Text | None = getattr(action, field, None)
                variants = text.items() if isinstance(text, dict) else [("", text)]
                for language, source in variants:
                    wrong = problem(source) if source is not None else None
                    if wrong is not None:
                        loc = ("rules", i, "actions", j, field, *([language] if language else []))
                        found.append(Problem(loc, wrong))
    return found
