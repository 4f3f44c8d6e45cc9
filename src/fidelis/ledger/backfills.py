"""Data migrations of the ledger's tables, as migrations run them: only the ledger package
writes those tables (`tests/test_architecture.py`), so the statements live here, versioned
like `pgfunctions.py`'s (a change is a new constant, never an edit of one a migration uses).
"""

from __future__ import annotations

# Migration 0020: each credit's transfer gets its lot's expiry (both databases).
TRANSFER_EXPIRY_V1 = """
UPDATE transfer SET expires_at = (
    SELECT l.expires_at FROM lot l
    WHERE l.tenant_id = transfer.tenant_id AND l.transfer_id = transfer.id)
WHERE EXISTS (
    SELECT 1 FROM lot l
    WHERE l.tenant_id = transfer.tenant_id AND l.transfer_id = transfer.id
      AND l.expires_at IS NOT NULL)
"""
