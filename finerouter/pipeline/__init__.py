"""The rebuild's stage framework: declared inputs, stored outputs, fingerprinted completion markers."""
