"""Territoires: the open platform of French smart territories."""

__version__ = "0.1.0"
