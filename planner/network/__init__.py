"""Road networks: building a graph from road lines, snapping, and bounded searches."""
