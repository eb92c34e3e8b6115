"""One normal form for email addresses, so that two spellings of one are one account."""

import unicodedata


def normalize_email(email: str) -> str:
    """``email`` as it is stored and compared: NFKC, case-folded, stripped.

    NFKC makes compatibility forms one (full-width ｕｓｅｒ is user, ㎒ is MHz);
    case folding goes further than lower() (Straße is strasse). NFKC is applied
    once more after folding, which can leave combining marks out of canonical
    order (İ folds to i and a combining dot): so normalising an address already
    normalised changes nothing, and the address shown can be typed back. The
    result may be longer than what was typed: check lengths and formats after
    normalising, never before.
    """
    folded = unicodedata.normalize("NFKC", email).casefold()
    return unicodedata.normalize("NFKC", folded).strip()
