"""WSGI entry point (gunicorn vpnsite.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vpnsite.settings.local")

application = get_wsgi_application()
