"""`hydrate access`: who can do what, where, across the fleet."""

from __future__ import annotations

import sys

import click

from pipeline.cli.group import cli, cluster_option, env_option, jobs_option
from pipeline.commands.context import Context

DENIED = 4  # exit status of `--can` when a selected cluster does not allow it (docs/access.md)


@cli.command()
@env_option
@click.option("--class", "classes", multiple=True, metavar="CLASS",
              help="Only clusters of this class (repeatable).")
@cluster_option
@click.option("--subject", metavar="KIND:NAME",
              help="user:NAME, group:NAME or serviceaccount:NAMESPACE/NAME: what it can do "
                   "(its own bindings, its groups' and the built-in ones).")
@click.option("--can", nargs=2, metavar="VERB RESOURCE",
              help="Only what allows VERB on RESOURCE[/SUBRESOURCE][.GROUP] (or a URL, /metrics). "
                   "With --subject: yes or no per cluster, and the exit status says.")
@click.option("--namespace", "-n", metavar="NS",
              help="Only what applies in namespace NS; with --can, the request's namespace "
                   "(without it: cluster-wide).")
@click.option("--builtin", is_flag=True,
              help="List the grants of Kubernetes' built-in bindings too (system:masters, "
                   "system:authenticated, …); --subject and --can always count them.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@jobs_option
@click.pass_obj
def access(ctx: Context, envs: tuple[str, ...], classes: tuple[str, ...], clusters: tuple[str, ...],
           subject: str | None, can: tuple[str, str] | None, namespace: str | None, builtin: bool,
           fmt: str, jobs: int) -> None:
    """Show who can do what, where: effective RBAC of the rendered fleet.

    Renders the selected clusters of the working tree and decides as the API server's
    RBAC authorizer does: RoleBindings (in their namespace) and ClusterRoleBindings to
    Roles and ClusterRoles, aggregated ClusterRoles (over the cluster's own and
    Kubernetes' built-in roles of the class's version: admin, edit, view), wildcards,
    resourceNames, non-resource URLs, and service accounts' implicit groups. Each
    permission names the clusters where it holds (many as a count by class) and the
    binding (file and line) and role that grant it.

    Exit status: 0; with --subject and --can, 0 when every selected cluster allows it,
    4 when at least one does not; 1 errors, 2 usage errors.

    \b
    Examples:
      hydrate access --class pop
      hydrate access --subject group:retail-app-team --namespace pos
      hydrate access --subject serviceaccount:pos/pos-app --can get secrets -n pos
      hydrate access --can delete secrets --format json      # who can
    """
    from pipeline.access import fleet, model, views
    from pipeline.commands import access as access_mod

    try:
        who = model.parse_subject(subject) if subject else None
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--subject") from None
    query = fleet.Query(who, namespace, builtin=builtin)
    if can is not None:
        try:
            verb, group, resource, sub, url = fleet.parse_can(*can)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--can") from None
        query = fleet.Query(who, namespace, verb, group, resource, sub, url, builtin)
    report, inv = access_mod.run(ctx, access_mod.AccessOptions(envs, clusters, classes, query, jobs))
    sys.stdout.write(views.as_json(report) if fmt == "json" else views.text(report, inv))
    if report.answer is not None and report.answer.denied:
        sys.exit(DENIED)
