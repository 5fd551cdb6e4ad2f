"""Lifecycle operations the chaos tests install."""
