"""Training of unblur's learned denoiser (PyTorch; a training-only dependency). See docs/training.md."""
