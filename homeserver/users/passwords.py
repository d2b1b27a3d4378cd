"""Password hashing (argon2id) and the configurable password policy.

Hashing runs in a worker thread: argon2 releases the GIL, so logins never stall the
event loop and two cores hash two passwords at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

from homeserver.config import PasswordHashConfig, PasswordPolicyConfig
from homeserver.errors import MatrixError

# Verifying against this makes a login for an unknown user cost as much as a real one,
# so response times do not reveal which usernames exist.
_DUMMY_PASSWORD = "not a password of anyone"


@dataclass
class PasswordHasher:
    config: PasswordHashConfig

    def __post_init__(self) -> None:
        c = self.config
        self._argon2 = _Argon2(
            time_cost=c.time_cost, memory_cost=c.memory_cost_kib, parallelism=c.parallelism, type=Type.ID
        )
        self._dummy_hash = self._argon2.hash(_DUMMY_PASSWORD)

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._argon2.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            self._argon2.verify(password_hash or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return password_hash is not None


def check_policy(policy: PasswordPolicyConfig, password: str) -> None:
    """Raise 400 ``M_WEAK_PASSWORD`` naming the first rule the password breaks."""
    rules = [
        (len(password) >= policy.min_length, f"at least {policy.min_length} characters"),
        (not policy.require_digit or any(c.isdigit() for c in password), "a digit"),
        (not policy.require_lowercase or any(c.islower() for c in password), "a lowercase letter"),
        (not policy.require_uppercase or any(c.isupper() for c in password), "an uppercase letter"),
        (not policy.require_symbol or any(not c.isalnum() for c in password), "a symbol"),
    ]
    for ok, need in rules:
        if not ok:
            raise MatrixError(400, "M_WEAK_PASSWORD", f"Password must contain {need}")
    if len(password.encode()) > 1024:
        raise MatrixError(400, "M_WEAK_PASSWORD", "Password is too long (at most 1024 bytes)")
