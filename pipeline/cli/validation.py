"""`hydrate validate`: schemas, policy and capacity findings for the rendered fleet."""
