"""Enrol an authenticator app (TOTP) for a console user from the server's shell.

In production superusers must give a code at login (ADMIN_REQUIRE_2FA_SUPERUSERS), so the
first superuser cannot add a device through the console: this prints the otpauth:// URL and
its QR code to scan instead (docs/console.md).
"""

import io

import qrcode
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.services import operator_totp_enrol
from core.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Add a confirmed TOTP device to a staff user; print its otpauth:// URL and QR code."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--name", default="authenticator", help="device name (default: %(default)s)"
        )

    def handle(self, *args, username: str, name: str, **options):
        user_model = get_user_model()
        user = user_model.objects.filter(**{user_model.USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        try:
            device = operator_totp_enrol(user=user, name=name)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        url = device.config_url
        code = qrcode.QRCode(border=1)
        code.add_data(url)
        picture = io.StringIO()
        code.print_ascii(out=picture, invert=True)
        self.stdout.write(picture.getvalue())
        self.stdout.write(f"Scan the code above, or add this URL to an authenticator app:\n{url}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Device {device.name!r} added for {username}: log in with its 6-digit code."
            )
        )
