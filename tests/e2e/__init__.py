"""End-to-end tests: the real CLI in a subprocess and the HTTP API over a real node."""
