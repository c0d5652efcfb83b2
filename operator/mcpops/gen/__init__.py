"""Build-time generators: `mcpops crds` (crds.py) and `mcpops docs` (docs.py), from the API
models and the metrics; files.py writes what they render, or reports drift (`--check`)."""
