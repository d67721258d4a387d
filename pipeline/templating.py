"""Jinja2 for overlay files ending in `.j2`: sandboxed, strict, and with located errors.

One `Templates` per render: it compiles each template once and renders it per cluster.
Templates have no loader, so they cannot include or import other files (a template's
output depends on the template and its context only, which keeps render keys honest);
they cannot reach unsafe attributes or change their context.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from pipeline.errors import ConfigError
from pipeline.source import Tree


class Templates:
    def __init__(self, tree: Tree) -> None:
        self._tree = tree
        self._env = ImmutableSandboxedEnvironment(
            undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True,
        )
        self._compiled: dict[str, jinja2.Template] = {}

    def _template(self, path: str) -> jinja2.Template:
        found = self._compiled.get(path)
        if found is None:
            try:
                source = self._tree.read(path).decode()
            except UnicodeDecodeError:
                raise ConfigError(f"{path}: a .j2 template must be UTF-8 text") from None
            try:
                code = self._env.compile(source, name=path, filename=path)
            except jinja2.TemplateSyntaxError as e:
                raise ConfigError(f"{path}:{e.lineno}: Jinja2 syntax error: {e.message}") from None
            found = self._env.template_class.from_code(self._env, code, self._env.make_globals(None))
            self._compiled[path] = found
        return found

    def render(self, path: str, context: Mapping[str, Any], where: str) -> bytes:
        """Render the template at `path`; errors name the file, line and `where`."""
        template = self._template(path)
        try:
            return template.render(context).encode()
        except jinja2.TemplateError as e:
            raise ConfigError(f"{path}{_line(e, path)}: {_message(e)} (rendering {where})") from None
        except (ArithmeticError, TypeError, ValueError, LookupError) as e:
            raise ConfigError(f"{path}{_line(e, path)}: {type(e).__name__}: {e} "
                              f"(rendering {where})") from None


def _line(error: BaseException, path: str) -> str:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == path]
    return f":{frames[-1].lineno}" if frames else ""


def _message(error: jinja2.TemplateError) -> str:
    if isinstance(error, jinja2.UndefinedError):
        return f"undefined variable: {error.message}"
    if isinstance(error, SecurityError):
        return f"not allowed in a sandboxed template: {error}"
    return str(error.message or error)
