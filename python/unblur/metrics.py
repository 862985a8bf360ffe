"""Image-quality metrics (filled in by the metrics change)."""
__all__: list = []
