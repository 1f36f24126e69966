"""Encryption of secrets at rest (panel passwords and API tokens) with `cryptography`'s Fernet.

Keys come from NODE_SECRET_KEY (comma-separated Fernet keys; the first encrypts, all decrypt,
which allows rotation). Without it a key is derived from DJANGO_SECRET_KEY with HKDF, so a
development setup needs no extra variable.
"""

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class SecretDecryptionError(Exception):
    """Stored ciphertext cannot be read with the configured keys."""


def _derived_key(secret: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"vpnsite-node-secrets", info=b"fernet")
    return base64.urlsafe_b64encode(hkdf.derive(secret.encode()))


@functools.cache
def _fernet_for(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    material = [k.encode() for k in keys if k] or [_derived_key(secret_key)]
    return MultiFernet([Fernet(k) for k in material])


def fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.NODE_SECRET_KEY), settings.SECRET_KEY)


def secret_encrypt(plaintext: str) -> str:
    if plaintext == "":
        return ""
    return fernet().encrypt(plaintext.encode()).decode()


def secret_decrypt(token: str) -> str:
    if token == "":
        return ""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptionError(
            "stored secret cannot be decrypted with NODE_SECRET_KEY"
        ) from exc


def secret_mask(plaintext: str) -> str:
    """What an operator may see of a secret: its length class and last two characters."""
    if not plaintext:
        return ""
    tail = plaintext[-2:] if len(plaintext) >= 8 else ""
    return "•" * 8 + tail
