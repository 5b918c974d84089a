"""Studies built on whole pipeline runs (the top layer: they import the pipeline, nothing imports them)."""
