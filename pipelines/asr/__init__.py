"""Speech recognition engines. See `pipelines.registry` for the names."""
