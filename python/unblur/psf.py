"""Point-spread functions (filled in by the PSF change)."""
__all__: list = []
