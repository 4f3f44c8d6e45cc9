"""The HTTP faces: `pvt/` (BonifiQ-compatible), `admin/`; shared dependencies in `deps.py`."""
