"""The one error model: every expected failure is a PipelineError with its context.

The CLI prints `str(error)` once, at the top, and exits 1. Code that knows where it is
adds context by raising a new error `from` the old one.
"""

from __future__ import annotations


class PipelineError(Exception):
    """An expected failure, with a message that says what, where and what to do."""


class ConfigError(PipelineError):
    """A configuration file is missing, malformed or inconsistent."""


class GraphError(PipelineError):
    """The package dependency graph is broken (cycle, missing dependency)."""


class RenderError(PipelineError):
    """A package could not be rendered, or its output breaks a rule."""


class ToolError(RenderError):
    """helm or kustomize is missing or failed."""


class GitError(PipelineError):
    """A git revision, branch or remote could not be read or written."""


class ValidationError(PipelineError):
    """Rendered objects break a rule whose severity is error (a schema, the policy, capacity)."""
