"""The admin console: server-rendered pages at `/admin` for the brand's staff (`routes.py`)."""
