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

# Migration 0023: customers who owe points and have free points at once are due at `:now`
# (both databases), so that settling pays the debt off from those points.
DEBT_BESIDE_FREE_POINTS_DUE_V1 = """
UPDATE customer SET settle_at = :now
WHERE (settle_at IS NULL OR settle_at > :now)
  AND EXISTS (
    SELECT 1 FROM account d JOIN account a
      ON a.tenant_id = d.tenant_id AND a.customer_id = d.customer_id AND a.kind = 'available'
    WHERE d.tenant_id = customer.tenant_id AND d.customer_id = customer.id
      AND d.kind = 'debt' AND d.balance < 0 AND a.balance > 0)
"""
