"""Everything face: viseme timelines, renderers, lip-sync backends, video muxing (coming)."""
