"""Kubernetes resource quantities ("250m", "1.5", "128Mi", "2G", "1e3") as numbers.

The grammar is the API server's (k8s.io/apimachinery `resource.Quantity`): a signed
decimal number (`1`, `1.5`, `1.`, `.5`), then nothing, a binary suffix (Ki … Ei), a decimal
one (n u m k M G T P E) or an integer exponent (`e3`, `E-2`); the JSON decoder trims
surrounding white space first.
"""

from __future__ import annotations

import re
from fractions import Fraction

_QUANTITY = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)")
_SUFFIX = {
    None: Fraction(1), "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000),
    "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
    "P": Fraction(10**15), "E": Fraction(10**18),
    "Ki": Fraction(2**10), "Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40),
    "Pi": Fraction(2**50), "Ei": Fraction(2**60),
}
PATTERN = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?$"
# What the API server accepts in an object: the same, white space around it allowed.
OBJECT_PATTERN = r"^\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?\s*$"
EXAMPLES = "e.g. 500m, 2, 1.5, 128Mi, 1Gi, 1e3"


def parse(value: object) -> Fraction:
    """The quantity's value (cores for cpu, bytes for memory); ValueError if malformed."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a quantity")
    if isinstance(value, int | float):
        return Fraction(str(value))
    match = _QUANTITY.fullmatch(str(value).strip())
    if match is None:
        raise ValueError(f"{value!r} is not a quantity ({EXAMPLES})")
    number, exponent, suffix = match.groups()
    scale = Fraction(10) ** int(exponent[1:]) if exponent else _SUFFIX[suffix]
    return Fraction(number) * scale


def cpu(value: Fraction) -> str:
    """Cores as Kubernetes writes them: whole cores, else millicores."""
    return str(int(value)) if value == int(value) else f"{round(value * 1000)}m"


def memory(value: Fraction) -> str:
    """Bytes in the largest binary unit that keeps one decimal readable (e.g. 1.5Gi)."""
    for unit in ("Ti", "Gi", "Mi", "Ki"):
        size = _SUFFIX[unit]
        if value >= size:
            shown = f"{float(value / size):.1f}".removesuffix(".0")
            return f"{shown}{unit}"
    return str(int(value))
