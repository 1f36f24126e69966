"""Create the first operator account if there is none, and say how to log in.

Used by the run command so a newcomer reaches the console within a minute. It never
touches an existing superuser and never prints a password it did not just create.
"""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from vpnsite.env import VAR_DIR


class Command(BaseCommand):
    help = "Create an 'admin' superuser with a random password if no superuser exists."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--base-url", default=settings.PUBLIC_BASE_URL)

    def handle(self, *args, username: str, base_url: str, **options):
        user_model = get_user_model()
        admin_url = f"{base_url.rstrip('/')}/{settings.ADMIN_URL}"
        password_file = VAR_DIR / "admin-password.txt"
        if user_model.objects.filter(is_superuser=True).exists():
            hint = (
                f"password in {password_file}"
                if password_file.exists()
                else "use your existing superuser (or: python manage.py changepassword)"
            )
            self.stdout.write(f"Console: {admin_url}  ({hint})")
            return
        password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser(username=username, email="", password=password)
        password_file.write_text(f"{username}\n{password}\n")
        password_file.chmod(0o600)
        self.stdout.write(
            self.style.SUCCESS(
                f"Console: {admin_url}\n  login: {username}\n  password: {password}\n"
                f"  (saved in {password_file})"
            )
        )
        if settings.ADMIN_REQUIRE_2FA or settings.ADMIN_REQUIRE_2FA_SUPERUSERS:
            self.stdout.write(
                f"  two-factor is required: python manage.py otp_enrol {username}"
                " (then scan the QR code it prints)"
            )
