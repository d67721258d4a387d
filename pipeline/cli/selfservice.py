"""`hydrate add` and `hydrate remove`: self-service edits of the fleet (being built: issue 13)."""
