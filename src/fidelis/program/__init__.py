"""Per-tenant program settings (spec README, "Program settings")."""
