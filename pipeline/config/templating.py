"""Jinja2 for overlay files ending in `.j2`: sandboxed, strict, bounded, with located errors.

One `Templates` per render: it compiles each template once and renders it per cluster.
Templates have no loader, so they cannot include or import other files (a template's
output depends on the template and its context only, which keeps render keys honest);
they cannot reach unsafe attributes or change their context.

Values print as Helm (Go) prints them: `true`, `false`, `86` for 86.0, nothing for null,
lists and mappings as JSON, never Python's `True` or `86.0`. A template is bounded:
the strings, lists and numbers it builds and its output stay under fixed limits, so
that a slip such as `'x' * 10**13` is an error naming the file, not an exhausted machine.
"""

from __future__ import annotations

import functools
import json
import math
import re
import string
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from pipeline.config import yamlio
from pipeline.config.source import Tree
from pipeline.errors import ConfigError

# Characters in a rendered template, and in any string, list or mapping it builds on the
# way: a values file or a patch is kilobytes; Kubernetes objects stay under 1.5 MiB.
MAX_SIZE = 16 * 1024 * 1024
MAX_INT_BITS = 1 << 16  # far beyond any count or size, far below a slow number
_NOT_SUPPORTED = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)


class TooLarge(SecurityError):
    """A template built (or was about to build) a value past the limits."""


class Templates:
    def __init__(self, tree: Tree) -> None:
        self._tree = tree
        self._env = _Sandbox(
            undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True,
            finalize=_finalize,
        )
        self._compiled: dict[str, jinja2.Template] = {}

    def _template(self, path: str) -> jinja2.Template:
        found = self._compiled.get(path)
        if found is None:
            data = self._tree.read(path)
            try:
                source = data.decode()
            except UnicodeDecodeError as e:
                line = data.count(b"\n", 0, e.start) + 1
                raise ConfigError(f"{path}:{line}: not UTF-8 text (byte {data[e.start]:#04x}); "
                                  "a .j2 template must be saved as UTF-8") from None
            try:
                ast = self._env.parse(source, name=path, filename=path)
                _check_supported(path, ast)
                code = self._env.compile(ast, name=path, filename=path)
            except jinja2.TemplateSyntaxError as e:
                raise ConfigError(f"{path}:{e.lineno}: Jinja2 syntax error: {e.message}") from None
            found = self._env.template_class.from_code(self._env, code, self._env.make_globals(None))
            self._compiled[path] = found
        return found

    def render(self, path: str, context: Mapping[str, Any], where: str) -> bytes:
        """Render the template at `path`; errors name the file, line and `where`."""
        template = self._template(path)
        try:
            return _bounded_output(path, template, context).encode()
        except jinja2.TemplateError as e:
            raise ConfigError(f"{path}{_line(e, path)}: {_message(e)} (rendering {where})") from None
        except (ArithmeticError, TypeError, ValueError, LookupError) as e:
            raise ConfigError(f"{path}{_line(e, path)}: {type(e).__name__}: {e} "
                              f"(rendering {where})") from None
        except (MemoryError, RecursionError) as e:
            what = "needs too much memory" if isinstance(e, MemoryError) else "recurses too deeply"
            raise ConfigError(f"{path}{_line(e, path)}: the template {what} "
                              f"(rendering {where})") from None


def _check_supported(path: str, ast: nodes.Template) -> None:
    for node in ast.find_all(_NOT_SUPPORTED):
        tag = {nodes.Include: "include", nodes.Extends: "extends"}.get(type(node), "import")
        raise ConfigError(
            f"{path}:{node.lineno}: {{% {tag} %}} is not supported: a template's output may "
            "depend only on the template and its context, so that the render key of every "
            "cluster stays exact; put shared values in the class's vars or a class layer"
        )


def _bounded_output(path: str, template: jinja2.Template, context: Mapping[str, Any]) -> str:
    parts: list[str] = []
    size = 0
    for part in template.generate(context):
        size += len(part)
        if size > MAX_SIZE:
            raise ConfigError(f"{path}: the rendered output is larger than {MAX_SIZE:,} "
                              "characters; refused (a loop or repetition out of bounds?)")
        parts.append(part)
    return "".join(parts)


def _finalize(value: Any) -> Any:
    """What `{{ value }}` prints: Go's text for booleans, null and numbers (as Helm)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, float):
        return yamlio.float_text(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(_plain(value), ensure_ascii=False, default=str)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


# --- Bounds ------------------------------------------------------------------------


def _checked(value: Any, what: Callable[[], str]) -> Any:
    """`value`, or TooLarge if it is past the limits."""
    if isinstance(value, (str, bytes, list, tuple, dict)) and len(value) > MAX_SIZE:
        raise TooLarge(f"{what()} makes a value of {len(value):,} items or characters "
                       f"(the limit is {MAX_SIZE:,})")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise TooLarge(f"{what()} makes a number of {value.bit_length():,} bits "
                       f"(the limit is {MAX_INT_BITS:,})")
    return value


def _refuse_size(size: int, what: Callable[[], str]) -> None:
    if size > MAX_SIZE:
        raise TooLarge(f"{what()} would make {size:,} items or characters "
                       f"(the limit is {MAX_SIZE:,})")


def _operands(operator: str, left: Any, right: Any) -> None:
    """Refuse `*` and `**` before they run: their results can be astronomically large."""
    def what() -> str:
        return f"{_short(left)} {operator} {_short(right)}"

    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                _refuse_size(len(seq) * times, what)
    elif operator == "**" and _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1 \
            and right * math.log2(abs(left)) > MAX_INT_BITS:
        raise TooLarge(f"{what()} makes a number of more than {MAX_INT_BITS:,} bits")
    elif operator == "%" and isinstance(left, str):
        _refuse_size(_printf_width(left), what)


def _arguments(what: Callable[[], str], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    # An integer argument to a string method or filter is a width, count or position.
    for arg in (*args, *kwargs.values()):
        if _is_int(arg) and abs(arg) > MAX_SIZE:
            raise TooLarge(f"{what()}: the argument {arg:,} is past the limit of {MAX_SIZE:,}")


def _join_size(separator: Any, items: Any) -> int:
    if not isinstance(items, (list, tuple)):
        return 0
    return sum(len(i) for i in items if isinstance(i, str)) + len(str(separator)) * len(items)


def _replace_size(text: Any, old: Any, new: Any) -> int:
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return 0
    return len(text) + (text.count(old) if old else len(text) + 1) * len(new)


def _indent_size(text: Any, width: Any = 4) -> int:
    lines = str(text).count("\n") + 1
    return len(str(text)) + lines * (int(width) if _is_int(width) else len(str(width)))


def _format_width(template: Any, *_: Any) -> int:
    """The largest width or precision in the fields of a str.format template."""
    try:
        specs = [spec or "" for _, _, spec, _ in string.Formatter().parse(str(template))]
    except ValueError:
        return 0
    return max((int(n) for spec in specs for n in re.findall(r"[0-9]+", spec)), default=0)


def _printf_width(template: str) -> int:
    """The largest width or precision in the conversions of a printf-style template."""
    found = re.findall(r"%(?:\([^)]*\))?[-+ #0]*([0-9]*)(?:\.([0-9]+))?", template)
    return max((int(n) for pair in found for n in pair if n), default=0)


# Upper bounds of the results of the filters and string methods that multiply sizes.
_FILTER_SIZES: dict[str, Callable[..., int]] = {
    "join": lambda value, d="", *_: _join_size(d, value),
    "replace": lambda s, old="", new="", *_: _replace_size(s, old, new),
    "indent": lambda s, width=4, *_: _indent_size(s, width),
    "format": lambda value, *_, **__: _format_width(value) + _printf_width(str(value)),
}
_METHOD_SIZES: dict[str, Callable[..., int]] = {
    "join": lambda self, items=(), *_: _join_size(self, items),
    "replace": lambda self, old="", new="", *_: _replace_size(self, old, new),
    "format": _format_width,
    "format_map": _format_width,
}


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0  # the context

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        def what() -> str:
            return f"the filter {name}"

        _arguments(what, args[skip:], kwargs)
        size = _FILTER_SIZES.get(name)
        if size is not None:
            _refuse_size(size(*args[skip:], **kwargs), what)
        return _checked(func(*args, **kwargs), what)

    return bounded


class _CodeGenerator(CodeGenerator):
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # `a ~ b` is no binary operator Jinja2 can intercept: bound its result here.
        self.write("environment.bounded_concat(")
        super().visit_Concat(node, frame)
        self.write(")")


def _bounded_join(parts: Any) -> str:
    return str(_checked("".join(parts), lambda: "joining text"))


def _varying(what: str) -> Callable[..., Any]:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise SecurityError(f"{what} gives another result on every render, and hydrate renders "
                            "each input once and keeps the output: choose the value in vars")
    return refuse


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, with every way of multiplying a size bounded."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _CodeGenerator
    concat = staticmethod(_bounded_join)  # {% set %} blocks, macros

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}
        # Another result on every render: the output would depend on which render the cache kept.
        self.filters["random"] = _varying("the random filter")
        self.globals = {**self.globals, "lipsum": _varying("lipsum()")}

    @staticmethod
    def bounded_concat(value: str) -> str:
        return str(_checked(value, lambda: "the ~ operator"))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _operands(operator, left, right)
        result = super().call_binop(context, operator, left, right)
        return _checked(result, lambda: f"{_short(left)} {operator} {_short(right)}")

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        name = getattr(__obj, "__name__", "")

        def what() -> str:
            return f"{name or 'a call'}()"

        # The sandbox hands out str.format wrapped; the string is the wrapped method's owner.
        owner = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)
        if isinstance(owner, str):
            _arguments(what, args, kwargs)
            size = _METHOD_SIZES.get(name)
            if size is not None:
                _refuse_size(size(owner, *args, **kwargs), what)
        return _checked(super().call(__context, __obj, *args, **kwargs), what)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _short(value: Any) -> str:
    text = repr(value) if not _is_int(value) or value.bit_length() < 200 else "a huge number"
    return text if len(text) <= 40 else text[:39] + "…"


def _line(error: BaseException, path: str) -> str:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == path]
    return f":{frames[-1].lineno}" if frames else ""


def _message(error: jinja2.TemplateError) -> str:
    if isinstance(error, jinja2.UndefinedError):
        return f"undefined variable: {error.message}"
    if isinstance(error, TooLarge):
        return f"refused: {error}"
    if isinstance(error, SecurityError):
        return f"not allowed in a sandboxed template: {error}"
    return str(error.message or error)
