"""The open-ideas board: /ideas (public) and /staff/ideas (moderation, answers)."""
