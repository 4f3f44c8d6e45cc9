"""Idempotency keys, claimed under a unique constraint in the transaction they guard."""
