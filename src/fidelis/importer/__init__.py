"""Bulk customer import from CSV (`fidelis customers import`): parsing and applying rows."""
