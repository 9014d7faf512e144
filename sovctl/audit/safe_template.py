"""Evaluate inventory templates as data: a documented, side-effect-free subset of Jinja.

An inventory is untrusted input (an auditor runs ``sovctl audit`` on an inventory
written by the party being audited), so its values are never handed to Ansible's
templating, which runs lookups (``lookup('pipe', ...)`` runs a command,
``lookup('file', ...)`` reads any file). Where a value is a template, sovctl
evaluates it here, in Jinja's immutable sandbox, with:

- variable references (resolved through the host's other variables, recursively,
  cycles refused), constants, lists, dicts, ``~ + - * / // %`` on numbers and
  strings of bounded size, comparisons, ``and/or/not``, ``x if c else y``,
  ``{% if %}``, ``{% for %}`` and ``{% set %}``;
- the filters the roles' defaults use: see ``FILTERS``; and Jinja's tests;
- the string and mapping methods in ``SAFE_METHODS``, and ``append`` on a list the
  template built, bounded to ``MAX_LIST_ITEMS`` items;
- ``groups`` and ``hostvars`` (the inventory's groups; other hosts' inventory variables,
  rendered in their own context), given by the caller.

Never: lookups, ``query``, function calls, macros, includes, imports, ``range``,
string formatting with ``%``. A result is limited to ``MAX_OUTPUT`` characters and
all evaluation of one run to ``TIME_BUDGET`` seconds. Anything else is bad
input, reported with the variable's name by the caller (``TemplateFailure``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from itertools import chain, islice
from typing import Any
from urllib.parse import urlsplit

from jinja2 import ChainableUndefined, StrictUndefined, TemplateError, Undefined, nodes
from jinja2.defaults import DEFAULT_FILTERS, DEFAULT_TESTS
from jinja2.nativetypes import NativeCodeGenerator, NativeEnvironment, NativeTemplate
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from sovctl.audit.template_run import APPENDED, Budget, TemplateFailure, time_limit

MAX_TEMPLATE_CHARS = 4096  # the text of one template
# A value a template reads (its text size), and what one operation (* + replace
# regex_replace join) makes: with the template's length this bounds any result's memory.
MAX_VALUE_CHARS = 16384
MAX_OUTPUT = 1_000_000  # characters of one rendered value
MAX_NESTING = 32  # variables referring to variables referring to ...
TIME_BUDGET = 5.0  # seconds of template evaluation per process
MAX_REGEX_INPUT = 16384

SAFE_METHODS = frozenset({
    "split", "rsplit", "strip", "lstrip", "rstrip", "lower", "upper", "startswith",
    "endswith", "get", "keys", "values", "items", "append",
})


class LiveView:
    """Inventory-wide data a template may read (``groups``, ``hostvars``): passed to
    templates as is, never converted or copied, and the same for every host of an audit
    (its text, which the render cache keys on, names it and nothing else)."""

    label = "live view"

    def __str__(self) -> str:
        return f"<{self.label}>"

    __repr__ = __str__


class _Undefined(ChainableUndefined, StrictUndefined):
    """Undefined like Ansible's: ``x.y | default(z)`` works, printing or testing fails."""


def _weight(value: Any, limit: int = MAX_VALUE_CHARS) -> int:
    """Characters of a value's text, counted up to just past ``limit``."""
    if isinstance(value, dict):
        items: Iterable[Any] = chain.from_iterable(value.items())
    elif isinstance(value, list | tuple):
        items = value
    else:
        return len(str(value)) if isinstance(value, str) else 8
    total = 2
    for item in items:
        total += _weight(item, limit - total) + 2
        if total > limit:
            break
    return total


def _capped(value: Any) -> Any:
    if _weight(value) > MAX_VALUE_CHARS:
        raise SecurityError(f"an operation would make more than {MAX_VALUE_CHARS} characters")
    return value


def _sized(text: Any) -> Any:
    if isinstance(text, str | list | tuple | dict) and len(text) > MAX_OUTPUT:
        raise SecurityError(f"a value longer than {MAX_OUTPUT} characters")
    return text


def _regex_replace(value: Any, pattern: str = "", replacement: str = "",
                   ignorecase: bool = False, multiline: bool = False, count: int = 0) -> str:
    value, pattern, replacement = str(value), str(pattern), str(replacement)
    if len(value) > MAX_REGEX_INPUT or len(pattern) > 200:
        raise SecurityError("regex_replace on a value or pattern this long is not evaluated")
    if re.search(r"\)[*+?{]|\\[1-9]|\(\?[<=!]", pattern):
        raise SecurityError("regex_replace patterns with quantified groups, "
                            "back-references or look-arounds are not evaluated")
    flags = (re.I if ignorecase else 0) | (re.M if multiline else 0)
    try:
        return _capped(re.sub(pattern, replacement, value, count=int(count), flags=flags))
    except re.error as exc:
        raise SecurityError(f"regex_replace: invalid pattern: {exc}") from None


def _urlsplit(value: Any, query: str = "") -> Any:
    parts = urlsplit(str(value))
    fields = {name: getattr(parts, name) for name in (
        "fragment", "hostname", "netloc", "password", "path", "port", "query", "scheme",
        "username")}
    if query:
        if query not in fields:
            raise SecurityError(f"urlsplit: unknown component {query!r}")
        return fields[query]
    return fields


def _replace(value: Any, old: str, new: str, count: int | None = None) -> str:
    value, old, new = str(value), str(old), str(new)
    hits = value.count(old) if old else len(value) + 1
    if len(value) + hits * len(new) > MAX_VALUE_CHARS:
        raise SecurityError(f"replace would make more than {MAX_VALUE_CHARS} characters")
    return value.replace(old, new, -1 if count is None else int(count))


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("yes", "on", "1", "true", "y", "t")


def _join(value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    items = list(value)
    if attribute is not None:
        items = [_ENV.getitem(i, attribute) for i in items]
    parts = [str(i) for i in items]
    if sum(map(len, parts)) + len(str(d)) * len(parts) > MAX_VALUE_CHARS:
        raise SecurityError(f"join would make more than {MAX_VALUE_CHARS} characters")
    return str(d).join(parts)


# Filters map() may apply: none of them makes a value larger.
_MAP_FILTERS = frozenset({"string", "lower", "upper", "trim", "int", "float", "first", "last",
                          "length", "count", "bool", "urlsplit", "capitalize", "title"})


def _map(context, value, *args, **kwargs):
    if args and args[0] not in _MAP_FILTERS:
        raise SecurityError(f"map({args[0]!r}) is not evaluated")
    return DEFAULT_FILTERS["map"](context, value, *args, **kwargs)


_map.jinja_pass_arg = DEFAULT_FILTERS["map"].jinja_pass_arg  # type: ignore[attr-defined]


def _split(value: Any, sep: str | None = None, maxsplit: int = -1) -> list[str]:
    return str(value).split(sep, int(maxsplit))


_JINJA_FILTERS = ("default", "d", "int", "float", "string", "lower", "upper", "trim",
                  "length", "count", "list", "first", "last", "min", "max",
                  "unique", "sort", "select", "reject", "selectattr", "rejectattr",
                  "abs", "round", "capitalize", "title", "items", "dictsort")
FILTERS: dict[str, Callable] = {name: DEFAULT_FILTERS[name] for name in _JINJA_FILTERS} | {
    "regex_replace": _regex_replace,
    "urlsplit": _urlsplit,
    "replace": _replace,
    "bool": _to_bool,
    "split": _split,
    "join": _join,
    "map": _map,
}
TESTS = dict(DEFAULT_TESTS)

_ALLOWED = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Const,
            nodes.List, nodes.Tuple, nodes.Dict, nodes.Pair, nodes.Getattr, nodes.Getitem,
            nodes.Slice, nodes.Filter, nodes.Test, nodes.CondExpr, nodes.And, nodes.Or,
            nodes.Not, nodes.Compare, nodes.Operand, nodes.Concat, nodes.Add, nodes.Sub,
            nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Mod, nodes.Neg, nodes.Pos, nodes.If,
            nodes.For, nodes.Assign, nodes.Call, nodes.Keyword)
_NEVER_NAMES = frozenset({"lookup", "query", "q", "range", "namespace", "lipsum", "cycler",
                          "joiner", "self", "caller", "loop", "varargs", "kwargs"})


def _concat(values: Iterable[Any]) -> Any:
    """Ansible's native result: a single expression keeps its type; text is joined."""
    values = iter(values)
    head = list(islice(values, 2))
    if not head:
        return ""
    if len(head) == 1:
        return head[0]
    parts, total = [], 0
    for value in chain(head, values):
        text = str(value)
        total += len(text)
        if total > MAX_OUTPUT:
            raise SecurityError(f"the result is longer than {MAX_OUTPUT} characters")
        parts.append(text)
    return "".join(parts)


class _CodeGenerator(NativeCodeGenerator):
    """``a ~ b`` through ``environment.safe_concat``, which bounds the result's size."""

    def visit_Concat(self, node, frame):  # noqa: N802 - Jinja's visitor name
        self.write("environment.safe_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


# Items a template may append to a list it built, and their characters in all: LiveKit's
# TURN default makes two items (about 60 characters each) per host of the `turn` group.
MAX_LIST_ITEMS = 100_000
MAX_LIST_CHARS = MAX_OUTPUT


def _bounded_append(items: list) -> Callable[[Any], None]:
    """``list.append`` for the lists a template builds (the roles' defaults collect TURN
    servers that way), bounded in items and characters: appending to the list being
    looped over ends as bad input, not as a machine out of memory."""
    def append(item: Any) -> None:
        if len(items) >= MAX_LIST_ITEMS:
            raise SecurityError(f"a list of more than {MAX_LIST_ITEMS} items")
        weight = _weight(item)
        if weight > MAX_VALUE_CHARS:
            raise SecurityError(f"an item of more than {MAX_VALUE_CHARS} characters")
        appended = APPENDED.get()
        if appended is None:  # outside an Evaluator: bounded by items only
            appended = {}
        total = appended.get(id(items), (items, 0))[1] + weight + 2
        if total > MAX_LIST_CHARS:
            raise SecurityError(f"a list of more than {MAX_LIST_CHARS} characters")
        appended[id(items)] = (items, total)
        items.append(item)
    return append


class _Env(NativeEnvironment, ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "%", "+", "**"})

    def getattr(self, obj, attribute):  # noqa: D102
        if isinstance(obj, list) and attribute == "append":
            return _bounded_append(obj)
        return super().getattr(obj, attribute)
    concat = staticmethod(_concat)  # type: ignore[assignment]
    code_generator_class = _CodeGenerator

    @staticmethod
    def safe_concat(values: Iterable[Any]) -> str:
        parts = [str(v) for v in values]
        if sum(map(len, parts)) > MAX_VALUE_CHARS:
            raise SecurityError(f"~ would make more than {MAX_VALUE_CHARS} characters")
        return "".join(parts)

    def call_binop(self, context, operator, left, right):  # noqa: D102
        if operator == "**":
            raise SecurityError("** is not evaluated")
        if operator == "%" and not (isinstance(left, int | float)
                                    and isinstance(right, int | float)):
            raise SecurityError("% string formatting is not evaluated")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int) and \
                        _weight(seq) * max(n, 0) > MAX_VALUE_CHARS:
                    raise SecurityError(f"* would make more than {MAX_VALUE_CHARS} characters")
            if isinstance(left, int) and isinstance(right, int) and \
                    left.bit_length() + right.bit_length() > 256:
                raise SecurityError("a number this large is not evaluated")
        if operator == "+" and isinstance(left, str | list | tuple) and \
                isinstance(right, str | list | tuple):
            _capped([left, right])
        return _sized(super().call_binop(context, operator, left, right))

    def is_safe_attribute(self, obj, attr, value):  # noqa: D102
        if callable(value) and attr not in SAFE_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)


class _Template(NativeTemplate):
    environment_class = _Env  # its concat (bounded), not NativeEnvironment's


_Env.template_class = _Template
_ENV = _Env(undefined=_Undefined, autoescape=False)
_ENV.filters = dict(FILTERS)
_ENV.tests = TESTS
_ENV.globals = {}


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value or "{#" in value)


@lru_cache(maxsize=4096)
def check_template(text: str) -> str | None:
    """None when ``text`` stays within the documented subset, else why it does not."""
    if len(text) > MAX_TEMPLATE_CHARS:
        return f"a template longer than {MAX_TEMPLATE_CHARS} characters"
    try:
        tree = _ENV.parse(text)
    except TemplateError as exc:
        return f"not a valid template: {exc.message or exc}"
    except (RecursionError, MemoryError):
        return "a template nested too deeply"
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, _ALLOWED):
            return (f"uses {type(node).__name__.lower()} (only variable references, "
                    "filters and if/for/set are evaluated)")
        if isinstance(node, nodes.Name) and node.name in _NEVER_NAMES:
            return f"uses {node.name} (lookups and commands are never run)"
        if isinstance(node, nodes.Filter) and node.name not in FILTERS:
            return f"uses the filter {node.name!r}, which sovctl does not evaluate"
        if isinstance(node, nodes.Test) and node.name not in TESTS:
            return f"uses the test {node.name!r}, which sovctl does not evaluate"
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            return f"reads the private attribute {node.attr!r}"
        if isinstance(node, nodes.Call) and not (
                isinstance(node.node, nodes.Getattr) and node.node.attr in SAFE_METHODS):
            called = getattr(node.node, "name", None) or getattr(node.node, "attr", "?")
            return f"calls {called}() (lookups, commands and calls are never run)"
    return None


def check_value(value: Any) -> str | None:
    """The first template in a value (strings, lists, mappings) outside the subset."""
    if isinstance(value, str):
        return check_template(value) if is_template(value) else None
    if isinstance(value, dict):
        items: Iterable[Any] = value.values()
    elif isinstance(value, list | tuple):
        items = value
    else:
        return None
    for item in items:
        problem = check_value(item)
        if problem:
            return problem
    return None


@lru_cache(maxsize=4096)
def _compiled(text: str):
    problem = check_template(text)
    if problem:
        raise TemplateFailure(problem)
    return _ENV.from_string(text), frozenset(_names(text))


def _names(text: str) -> set[str]:
    from jinja2 import meta

    return meta.find_undeclared_variables(_ENV.parse(text))


class Evaluator:
    """Renders values against one host's variables; ``convert`` makes a raw value plain."""

    def __init__(self, context: Mapping[str, Any], convert: Callable[[Any], Any] = lambda v: v,
                 budget: Budget | None = None):
        self.context = context
        self.budget = budget or Budget()
        self.convert = convert
        self.done: dict[str, Any] = {}
        self.stack: list[str] = []
        self.failed: dict[str, TemplateFailure] = {}

    def render(self, value: Any) -> Any:
        """The rendered value; raises TemplateFailure."""
        if self.stack:
            return self._render(value)
        with time_limit(self.budget, TIME_BUDGET):
            try:
                return self._render(value)
            except TemplateFailure:
                raise
            except (TemplateError, SecurityError) as exc:
                message = str(getattr(exc, "message", None) or exc)
                culprit = next((n for n in self.failed if message.startswith(f"{n}: ")), None)
                if culprit:
                    raise TemplateFailure(message[len(culprit) + 2:],
                                          self.failed[culprit].var or culprit) from None
                undefined = re.match(r"'(\w+)' is undefined", message)
                raise TemplateFailure(message, undefined[1] if undefined else None) from None
            except (ArithmeticError, ValueError, TypeError, LookupError, AttributeError,
                    RecursionError, MemoryError) as exc:
                raise TemplateFailure(f"{type(exc).__name__}: {exc}"[:200]) from None

    def _render(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._text(value) if is_template(value) else value
        if isinstance(value, dict):
            return {k: self._render(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._render(v) for v in value]
        return value

    def variable(self, name: str) -> Any:
        if name in self.done:
            return self.done[name]
        if name in self.stack:
            raise TemplateFailure(f"{name} refers to itself ({' -> '.join(self.stack)})", name)
        if len(self.stack) >= MAX_NESTING:
            raise TemplateFailure(f"variables nested more than {MAX_NESTING} deep")
        self.stack.append(name)
        try:
            result = self._render(self.convert(self.context[name]))
        except TemplateFailure as exc:
            exc.var = exc.var or name
            raise
        except (TemplateError, SecurityError) as exc:
            raise TemplateFailure(str(getattr(exc, "message", None) or exc), name) from None
        finally:
            self.stack.pop()
        self.done[name] = result
        return result

    def _text(self, text: str) -> Any:
        template, names = _compiled(text)
        values: dict[str, Any] = {}
        for name in names:
            if name not in self.context:
                continue
            try:
                value = self.variable(name)
            except TemplateFailure as exc:
                if "refers to itself" in str(exc) or "nested more than" in str(exc):
                    raise
                self.failed[name] = exc
                value = _Undefined(hint=f"{name}: {exc}", name=name)
            if not isinstance(value, Undefined) and _weight(value) > MAX_VALUE_CHARS:
                raise TemplateFailure(f"{name} is too large for a template to read "
                                      f"(more than {MAX_VALUE_CHARS} characters)", name)
            values[name] = value
        result = template.render(values)
        if isinstance(result, Undefined):
            result._fail_with_undefined_error()
        return _sized(result)
