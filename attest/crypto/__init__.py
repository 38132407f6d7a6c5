"""Keys, key ids, canonical JSON, DSSE envelopes and the trust store."""
