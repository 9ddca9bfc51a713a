"""Video curation: I/O, shot splitting, filters, captions, dedup and sharding."""
