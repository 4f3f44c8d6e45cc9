"""The ledger: the only code that writes entries, balances and lots (see `service.py`)."""
