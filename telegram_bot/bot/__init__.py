"""The Telegram bot poller: python-telegram-bot handlers over our services.

`build_application()` in `application.py` wires everything; `manage.py runbot` runs it.
"""
