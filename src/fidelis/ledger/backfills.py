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

# Migration 0023 too: customers with something due before their `settle_at` (or none at all)
# are due at `:now` (both databases). Until 2026-12-05 a reversal gave points back to a lot
# spent empty without scheduling its expiry again, so such points never expired.
SETTLE_AT_IN_TIME_V1 = """
UPDATE customer SET settle_at = :now
WHERE (settle_at IS NULL OR settle_at > :now)
  AND (EXISTS (
        SELECT 1 FROM lot l
        WHERE l.tenant_id = customer.tenant_id AND l.customer_id = customer.id
          AND l.remaining > 0
          AND (l.status = 'available' AND l.expires_at IS NOT NULL
                 AND (customer.settle_at IS NULL OR l.expires_at < customer.settle_at)
               OR l.status = 'pending'
                 AND (customer.settle_at IS NULL OR l.available_at < customer.settle_at)))
    OR EXISTS (
        SELECT 1 FROM hold h
        WHERE h.tenant_id = customer.tenant_id AND h.customer_id = customer.id
          AND h.status = 'active' AND h.expires_at IS NOT NULL
          AND (customer.settle_at IS NULL OR h.expires_at < customer.settle_at)))
"""
