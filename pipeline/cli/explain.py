"""`hydrate explain`: where a rendered value comes from (being built: issue 12)."""
