"""`hydrate catalog`: every package and where it runs (being built: issue 13)."""
