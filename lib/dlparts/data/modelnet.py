"""ModelNet40 loaders (filled in by the PointNet chapter)."""

__all__: list[str] = []
