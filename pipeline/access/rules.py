"""The tenant policy's rule ids, default severities and texts (data only: validation
imports it at start-up, and nothing of the RBAC model comes with it)."""

from __future__ import annotations

# id, default severity, short, full, help (pipeline.validate.rules makes them Rules)
RULES: tuple[tuple[str, str, str, str, str], ...] = (
    ("access-tenant-scope", "error", "Tenant access outside its namespaces",
     "A binding gives a tenant's subject access cluster-wide or in a namespace that is not the "
     "tenant's (fleet/policy.yaml access.tenants).",
     "Bind the tenant with a RoleBinding in one of its namespaces, or change the tenant's namespaces."),
    ("access-tenant-role", "error", "Tenant access beyond its maximum role",
     "A binding gives a tenant's subject, in its namespace, a permission its maxRole does not "
     "(aggregation counted): verbs, resources or resource names beyond it.",
     "Bind a role within maxRole, or raise maxRole in fleet/policy.yaml if that is intended."),
    ("access-cluster-admin", "error", "cluster-admin-equivalent access",
     "A ClusterRoleBinding gives every verb on every resource of every API group to a subject "
     "access.allow.cluster-admin does not list.", "Bind a narrower role, or list the subject."),
    ("access-escalate", "error", "May escalate roles",
     "The subject may use the escalate verb on roles or clusterroles: it can grant itself anything.",
     "Remove the verb, or list the subject in access.allow.escalate."),
    ("access-bind", "error", "May bind roles",
     "The subject may use the bind verb on roles or clusterroles: it can bind roles it does not hold.",
     "Remove the verb, or list the subject in access.allow.bind."),
    ("access-impersonate", "error", "May impersonate",
     "The subject may impersonate users, groups, uids or user extras, or service accounts "
     "cluster-wide.", "Remove the verb, or list the subject in access.allow.impersonate."),
    ("access-secrets", "error", "May read Secrets cluster-wide",
     "A ClusterRoleBinding lets the subject get, list or watch Secrets in every namespace.",
     "Grant Secrets per namespace with RoleBindings, or list the subject in access.allow.secrets."),
    ("access-pods-exec", "error", "May exec into pods",
     "The subject may create pods/exec: run commands in containers, with their service "
     "accounts and Secrets.", "Remove the permission, or list the subject in access.allow.pods-exec."),
)
