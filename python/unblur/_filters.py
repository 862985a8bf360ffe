"""Public filters (filled in by the filters change)."""
__all__: list = []
