"""The one error model: every expected failure is a PipelineError with its context.

The CLI prints `str(error)` once, at the top, and exits with the error's `exit_status`:
1, or 2 for a usage error, or 4 when a gate or a hold blocks the change. Code that knows
where it is adds context by raising a new error `from` the old one.
"""

from __future__ import annotations


class PipelineError(Exception):
    """An expected failure, with a message that says what, where and what to do."""

    exit_status = 1


class UsageError(PipelineError):
    """Options that do not go together, found once the configuration is read."""

    exit_status = 2


class Blocked(PipelineError):
    """A gate or a hold stops the change; `--force --reason` would bypass it (recorded)."""

    exit_status = 4


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
