"""Search: the engine (the one way in for queries), photo analogies, duplicate groups."""
