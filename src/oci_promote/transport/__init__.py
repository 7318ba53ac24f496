"""Per-registry HTTP: auth, challenge, redirects, retries, error mapping, uploads."""
