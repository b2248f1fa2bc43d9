"""Improvement reports ("you said, we did"): composed by managers, read by everyone."""
