"""Stage 5, comparing two renders: object diffs, risks, redaction of secrets, the text,
markdown and JSON views, and the client that posts the GitHub comment.

May import: `pipeline.sinks` and every stage below it.
"""
