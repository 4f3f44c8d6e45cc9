"""Customers: identity inside a tenant, status, and the points views built on the ledger."""
