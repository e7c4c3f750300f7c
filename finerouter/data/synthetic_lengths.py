"""Prompt lengths of the simulated benchmark: a mix of length bands, like real traffic (most prompts short, a
tail of long ones that paste in context). A prompt is lengthened with context sentences about its own domain,
after its request, so the request stays inside the encoder's window (MiniLM reads ~1,000 characters)."""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from finerouter.config_model import ConfigModel

_CONTEXT = (
    "Background: the {a} was reviewed alongside the {b} in case {n}.",
    "Note that the {a} and the {b} came up again in last week's discussion, item {n}.",
    "Earlier notes mention the {a}, the {b} and reference {n} several times.",
    "For context, our records about the {a} list {n} entries linked to the {b}.",
    "A colleague pointed out that the {b} depends on the {a} more than expected ({n} cases).",
    "The attached log has {n} lines on the {a}; most of them also name the {b}.",
)


class LengthBand(ConfigModel):
    """`share` of the prompts get a length drawn uniformly from [min_chars, max_chars] characters."""

    min_chars: int = Field(ge=1)
    max_chars: int = Field(ge=1)
    share: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> LengthBand:
        if self.max_chars < self.min_chars:
            raise ValueError(f"max_chars ({self.max_chars}) is below min_chars ({self.min_chars})")
        return self


# Real traffic: most prompts of 50-400 characters, a tail of 1,000-4,000-character ones.
REAL_TRAFFIC: tuple[LengthBand, ...] = (
    LengthBand(min_chars=50, max_chars=400, share=0.85),
    LengthBand(min_chars=400, max_chars=1000, share=0.05),
    LengthBand(min_chars=1000, max_chars=4000, share=0.10),
)


def check_bands(bands: tuple[LengthBand, ...] | list[LengthBand], longest_template: int) -> None:
    """Shares must sum to 1; a band must admit the longest templated prompt (prompts are lengthened, never cut, so
    no two become the same text)."""
    total = sum(b.share for b in bands)
    if not bands or abs(total - 1.0) > 1e-6:
        raise ValueError(f"prompt_lengths shares must sum to 1, not {total:g}")
    for i, band in enumerate(bands):
        if band.max_chars < longest_template:
            raise ValueError(
                f"prompt_lengths[{i}].max_chars ({band.max_chars}) is below the longest templated prompt "
                f"({longest_template} characters): prompts are lengthened, never cut"
            )


def target_lengths(n: int, bands: tuple[LengthBand, ...] | list[LengthBand], rng: np.random.Generator) -> np.ndarray:
    shares = np.asarray([b.share for b in bands], dtype=np.float64)
    band = rng.choice(len(bands), size=n, p=shares / shares.sum())
    lo = np.asarray([b.min_chars for b in bands])[band]
    hi = np.asarray([b.max_chars for b in bands])[band]
    return rng.integers(lo, hi + 1)


def lengthen(text: str, target: int, terms: tuple[str, ...], rng: np.random.Generator) -> str:
    """`text` followed by context sentences about `terms`, cut to exactly `target` characters (ending in a
    full stop); a text already that long is returned as is."""
    need = target - len(text)
    if need <= 0:
        return text
    parts = [text]
    size = len(text)
    while size < target:
        a, b = rng.choice(len(terms), size=2, replace=False)
        sentence = _CONTEXT[rng.integers(len(_CONTEXT))].format(a=terms[a], b=terms[b], n=int(rng.integers(2, 1000)))
        parts.append(sentence)
        size += 1 + len(sentence)
    out = " ".join(parts)[:target]
    return out[:-1] + "." if out[-1] == " " else out


def apply_length_mix(
    texts: list[str],
    terms_of_text: list[tuple[str, ...]],
    bands: tuple[LengthBand, ...] | list[LengthBand],
    rng: np.random.Generator,
) -> list[str]:
    targets = target_lengths(len(texts), bands, rng)
    return [lengthen(t, int(n), terms, rng) for t, n, terms in zip(texts, targets, terms_of_text, strict=True)]
