"""Tenants (one loyalty program each) and their API keys."""
