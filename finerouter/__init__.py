"""FineRouter: scalable prompt routing via fine-grained latent task discovery."""

__version__ = "0.1.0"
