"""Procedural 3-D shapes (filled in by the PointNet chapter)."""

__all__: list[str] = []
