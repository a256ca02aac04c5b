"""National Drug Codes in every form they are written, down to the 11-digit HIPAA form.

A 10-digit NDC is written 4-4-2, 5-3-2 or 5-4-1; the 11-digit 5-4-2 form pads the short part
with a leading zero (labeler, product or package). Only the labeler and product matter for a
lookup, so a code is reduced to its 9-digit product code (the first 9 of the 11 digits).
Source: FDA/CMS conversion rule, e.g. kb.daisybill.com "convert a 10 digit NDC to 11 digits".
"""

from __future__ import annotations

# The lengths of the hyphenated parts an NDC may have (package, or product only).
_LAYOUTS = frozenset({(4, 4, 2), (5, 3, 2), (5, 4, 1), (5, 4, 2), (4, 4), (5, 3), (5, 4)})


def ndc_products(written: str) -> tuple[str, ...]:
    """The 9-digit product codes a written NDC may stand for.

    One for a hyphenated or 11-digit code; up to three for 10 plain digits (which segment to
    pad cannot be told from the digits: each is tried); none for anything that is not an NDC.
    """
    text = written.strip()
    parts = text.split("-")
    if len(parts) > 1:
        if tuple(len(p) for p in parts) not in _LAYOUTS or not all(p.isdigit() for p in parts):
            return ()
        return (parts[0].zfill(5) + parts[1].zfill(4),)
    if not text.isdigit():
        return ()
    if len(text) == 11:
        return (text[:9],)
    if len(text) == 10:
        return tuple(dict.fromkeys((
            "0" + text[:8],  # 4-4-2
            text[:5] + "0" + text[5:8],  # 5-3-2
            text[:9],  # 5-4-1
        )))
    if len(text) == 9:  # a product code already in 5-4 form
        return (text,)
    return ()
