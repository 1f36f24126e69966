"""Development tools: never imported by production code, never installed in production.

- ``devtools.x3ui_simulator``: a local 3x-ui panel reproducing five real releases, for tests,
  benchmarks, the end-to-end suite and demos (docs/x3ui.md).
- ``manage.py x3ui_simulator``: that simulator as a process. The ``devtools`` Django app that
  holds the command is installed by ``vpnsite.settings.local`` and ``vpnsite.settings.test``
  only; ``vpnsite.settings.production`` leaves it out.

The Docker image still contains these files (it copies the repository), but nothing a
production process runs imports them: ``tests/deploy/test_devtools_not_in_production.py``
checks the source of every production module and a production-settings process.
"""
