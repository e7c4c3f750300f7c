"""Stage 1 of the method: fine-grained latent task discovery."""
