"""Analyses shipped by the example plugin."""
