"""Orders: purchases reported by the store, which earn points once and give them back on cancel."""
