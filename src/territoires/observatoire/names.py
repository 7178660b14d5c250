"""Folding of place names for matching: accents, case, hyphens and apostrophes ignored."""

from __future__ import annotations

import re
import unicodedata

_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss"})
_SEPARATORS = re.compile(r"[^0-9a-z]+")


def fold(text: str) -> str:
    """Lower-case ASCII words separated by single spaces: "Saint-Étienne" → "saint etienne"."""
    if not text.isascii():
        # Decomposed, an accented letter is its base letter and combining marks, which the
        # ASCII encoding drops; letters with no decomposition (rare in French names) go too.
        decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
        text = decomposed.encode("ascii", "ignore").decode("ascii")
    return _SEPARATORS.sub(" ", text.lower()).strip()
