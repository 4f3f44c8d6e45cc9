"""Database access: the engine (`engine.py`), the table definitions (`tables.py`), column types."""
