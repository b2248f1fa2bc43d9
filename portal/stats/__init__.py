"""Figures: the managers' dashboard and the public statistics (/stats)."""
