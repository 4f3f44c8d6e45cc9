"""Small, dependency-free helpers shared by every domain module."""
