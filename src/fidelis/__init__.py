"""Fidelis: a self-hostable loyalty and cashback engine built on an auditable ledger."""

__version__ = "0.1.0"
