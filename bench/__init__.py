"""Performance benchmark of the news QA pipeline: `python -m bench` (see bench/README.md)."""
