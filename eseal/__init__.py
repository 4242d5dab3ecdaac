"""eseal: the issuing service and its edges (ids, CLI, HTTP)."""
