"""Brazilian documents: CPF (11 digits) and CNPJ (14 digits), check digits validated."""

from __future__ import annotations

from validate_docbr import CNPJ, CPF

PUNCTUATION = ".-/ "

_cpf = CPF()
_cnpj = CNPJ()


class InvalidDocumentNumber(ValueError):
    """Not a CPF or CNPJ with valid check digits."""


def digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def normalize_document(value: str) -> str:
    """Digits of a valid CPF or CNPJ (punctuation ignored), or raise `InvalidDocumentNumber`."""
    if any(not (ch.isdigit() or ch in PUNCTUATION) for ch in value):
        raise InvalidDocumentNumber("only digits and . - / are allowed")
    only = digits(value)
    if len(only) == 11 and _cpf.validate(only):
        return only
    if len(only) == 14 and _cnpj.validate(only):
        return only
    raise InvalidDocumentNumber("not a valid CPF or CNPJ")


def looks_like_document(value: str) -> bool:
    """True for strings made only of digits and CPF/CNPJ punctuation, 11 or 14 digits long."""
    if any(not (ch.isdigit() or ch in PUNCTUATION) for ch in value):
        return False
    return len(digits(value)) in (11, 14)


def mask_document(value: str) -> str:
    """`***.***.***-12` for a CPF, `**.***.***/****-12` for a CNPJ: safe to log."""
    only = digits(value)
    if len(only) == 14:
        return f"**.***.***/****-{only[-2:]}"
    return f"***.***.***-{only[-2:]}"
