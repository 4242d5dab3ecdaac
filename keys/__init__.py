"""Keys: who may sign what (Ed25519 keys, key files, key statements)."""
