"""The page layer's own signal: not an error of the MES, the way a page without a session goes to the
login page (mapped to a 303 in :mod:`mes.hmi.app`)."""

from __future__ import annotations


class LoginRequired(Exception):
    """A page was asked for without a live session: the answer is the login page (303)."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url
