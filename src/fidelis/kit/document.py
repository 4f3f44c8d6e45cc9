"""Brazilian documents: CPF (11 digits) and CNPJ (14 digits), check digits validated."""

from __future__ import annotations

from validate_docbr import CNPJ, CPF

PUNCTUATION = ".-/ "
# A document's digits are ASCII: `str.isdigit` also takes other scripts' digits and "²".
DIGITS = frozenset("0123456789")

_cpf = CPF()
_cnpj = CNPJ()


class InvalidDocumentNumber(ValueError):
    """Not a CPF or CNPJ with valid check digits."""


def digits(value: str) -> str:
    return "".join(ch for ch in value if ch in DIGITS)


def only_document_characters(value: str) -> bool:
    """True when `value` holds nothing but digits and CPF/CNPJ punctuation."""
    return all(ch in DIGITS or ch in PUNCTUATION for ch in value)


def normalize_document(value: str) -> str:
    """Digits of a valid CPF or CNPJ (punctuation ignored), or raise `InvalidDocumentNumber`."""
    if not only_document_characters(value):
        raise InvalidDocumentNumber("only digits and . - / are allowed")
    only = digits(value)
    if len(only) == 11 and _cpf.validate(only):
        return only
    if len(only) == 14 and _cnpj.validate(only):
        return only
    raise InvalidDocumentNumber("not a valid CPF or CNPJ")


def looks_like_document(value: str) -> bool:
    """True for strings made only of digits and CPF/CNPJ punctuation, 11 or 14 digits long."""
    return only_document_characters(value) and len(digits(value)) in (11, 14)


def mask_document(value: str) -> str:
    """`***.***.***-12` for a CPF, `**.***.***/****-12` for a CNPJ: safe to log."""
    only = digits(value)
    if len(only) == 14:
        return f"**.***.***/****-{only[-2:]}"
    return f"***.***.***-{only[-2:]}"
