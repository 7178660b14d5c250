"""Shape checks for French administrative identifiers. They answer a bool and raise nothing.

A shape check says whether a string could be such an identifier; whether a territory
has it is the registry's question.
"""

from __future__ import annotations

import re

# Metropolitan communes: département 01-95 (never 20 since Corsica became 2A/2B in 1976),
# then 3 digits; overseas: 97x and 98x. 99xxx are INSEE's codes of foreign countries.
_INSEE_COMMUNE = re.compile(r"(?:0[1-9]|1\d|[3-8]\d|9[0-8])\d{3}|2[1-9]\d{3}|2[AB]\d{3}", re.ASCII)
_DEPARTEMENT = re.compile(r"0[1-9]|1\d|2[1-9AB]|[3-8]\d|9[0-5]|97[1-8]|98[4-9]", re.ASCII)
_REGION = re.compile(r"\d{2}|9[78]\d", re.ASCII)


def valid_siren(siren: str) -> bool:
    """Nine ASCII digits whose Luhn checksum is a multiple of 10 (INSEE's SIREN check digit)."""
    if len(siren) != 9 or not siren.isascii() or not siren.isdigit():
        return False
    total = 0
    # Luhn from the right: every second digit doubled, its digits summed (d*2-9 when above 9).
    for position, char in enumerate(reversed(siren)):
        digit = ord(char) - 48
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def valid_insee_commune(code: str) -> bool:
    """Five characters: a département (01-98, or 2A/2B for Corsica) followed by digits."""
    return _INSEE_COMMUNE.fullmatch(code) is not None


def valid_departement_code(code: str) -> bool:
    """01-95 and 2A/2B in metropolitan France, 971-978 and 984-989 overseas."""
    return _DEPARTEMENT.fullmatch(code) is not None


def valid_region_code(code: str) -> bool:
    """Two digits (COG region codes), or a three-digit overseas collectivity code."""
    return _REGION.fullmatch(code) is not None
