"""Public convolution (filled in by the convolution change)."""
__all__: list = []
