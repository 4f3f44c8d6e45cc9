"""Reward redemptions: spending points on a reward of the catalogue, and cancelling that."""
