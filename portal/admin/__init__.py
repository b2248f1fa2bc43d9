"""Administration: departments, topics, the holiday calendar (admins only)."""
