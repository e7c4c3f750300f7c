"""Task descriptions: one sentence per prompt saying what is asked (stage 1, step 1)."""
