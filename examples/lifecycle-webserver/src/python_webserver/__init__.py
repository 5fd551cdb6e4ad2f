"""A lifecycle plugin that runs ``python -m http.server`` for a node."""
