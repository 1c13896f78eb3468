"""Text AME stores and sends on: NFC-normalised free text without hidden characters, and the strict shape of
every code that becomes a partner URL's path segment.

Free text (an order's external_reference, its documents' titles) goes into events, webhooks and the
portal. Control characters (NUL, CR/LF, ESC) forge log lines and headers downstream; bidi overrides and
isolates (U+202A-U+202E, U+2066-U+2069) and zero-width characters make a text read differently from what
it is; a word mixing scripts ("Cоntrato" with a Cyrillic "о") passes for another. All are refused with
INVALID_CHARACTERS naming the field, never cleaned silently.
"""

from __future__ import annotations

import unicodedata

# A code sent as one path segment to a partner (area, product, platform, power, domain keys): letters,
# digits, "_", "-" and ".", not starting with "." (so never "." or ".." walking up a partner's URL).
SEGMENT_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$"

# Format characters (Unicode category Cf) hide in text: bidi controls, zero-width space/joiners, word
# joiner, BOM, soft hyphen, invisible operators. Line and paragraph separators (Zl, Zp) break lines.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Scripts whose letters are look-alikes of one another; a word may use one of them only.
_CONFUSABLE_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC")


class InvalidCharacters(ValueError):
    """Free text with a control, bidi, zero-width or otherwise hidden character, or a mixed-script word."""


def _script(ch: str) -> str | None:
    name = unicodedata.name(ch, "")
    for script in _CONFUSABLE_SCRIPTS:
        if name.startswith(script + " ") or name.startswith(script + "_"):
            return script
    if name.startswith("FULLWIDTH LATIN"):
        return "FULLWIDTH"
    return None


def _describe(ch: str) -> str:
    return f"U+{ord(ch):04X} ({unicodedata.name(ch, unicodedata.category(ch))})"


def clean_text(value: str) -> str:
    """`value` in NFC, or InvalidCharacters naming the first offending character (in Portuguese)."""
    text = unicodedata.normalize("NFC", value)
    for ch in text:
        if unicodedata.category(ch) in _HIDDEN_CATEGORIES:
            raise InvalidCharacters(f"caractere de controle ou invisível não permitido: {_describe(ch)}")
    word_scripts: set[str] = set()
    for ch in text + " ":
        if ch.isalpha():
            script = _script(ch)
            if script is not None:
                word_scripts.add(script)
                if len(word_scripts) > 1:
                    raise InvalidCharacters(
                        f"palavra com letras de alfabetos diferentes (caracteres parecidos com outros): {_describe(ch)}"
                    )
        elif not unicodedata.category(ch).startswith("M"):  # combining marks belong to their letter
            word_scripts = set()
    return text
