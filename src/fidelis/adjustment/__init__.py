"""Manual adjustments: points and cashback added or removed by the store."""
