"""Stage 1, the dry configuration: the repository tree (a git commit or a directory), YAML
read strictly, the JSON schemas, the fleet inventory and package catalogue, Jinja2
templates, Helm values and kustomization files.

May import: the base modules (`pipeline.errors`, `pipeline.version`, `pipeline.words`).
"""
