"""The one refusal every service raises when an actor may not do something.

Views answer it with the same 404 as a missing object, so a refusal tells nothing.
"""


class PermissionDenied(Exception):
    """The actor may not see or change this object."""
