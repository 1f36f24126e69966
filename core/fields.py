from django.db import models

from core.crypto import secret_decrypt, secret_encrypt


class EncryptedTextField(models.TextField):
    """A text column stored as a Fernet token; Python code sees the plaintext.

    Not searchable or orderable (each encryption is randomised).
    """

    def from_db_value(self, value, expression, connection):
        if value is None:
            return value
        return secret_decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None:
            return value
        return secret_encrypt(value)
