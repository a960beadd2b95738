"""Repository scripts: run from the root as ``python -m scripts.<name>``."""
