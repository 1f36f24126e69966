"""A new gunicorn worker loads, before its first request, what that request would load."""

import importlib.util
import os
from unittest import mock

from core import warmup
from tests.fresh_process import ROOT, python_run


def test_a_fresh_process_is_warm_without_any_connection_opened():
    """In a fresh process, as a gunicorn worker is: afterwards the URLconf's view modules,
    both languages' catalogs and the Redis transport are loaded, and the producer pool and
    the thread-shared result backend exist. Database and broker point at a closed port
    (9): the warm-up opens no connection, so it neither fails nor waits on them."""
    script = "\n".join(
        [
            "import sys, django",
            "django.setup()",
            "from celery import current_app",
            "from django.utils.translation import trans_real",
            "from core.warmup import web_worker_warm",
            "before = {m for m in ('billing.apis', 'kombu.transport.redis') if m in sys.modules}",
            "assert not before, before",
            # The default language is read at start-up; the others at their first request.
            "assert 'en' not in trans_real._translations",
            "web_worker_warm()",
            "app = current_app._get_current_object()",
            "assert 'billing.apis' in sys.modules",  # the webhook views, via the URLconf
            "assert 'kombu.transport.redis' in sys.modules",
            "assert set(trans_real._translations) >= {'ru', 'en'}",
            "assert app.amqp._producer_pool is not None",
            "assert app._backend_cache is not None",
            "print('warm')",
        ]
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "vpnsite.settings.test",
        "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none",
        "REDIS_URL": "redis://127.0.0.1:9/0",
    }
    result = python_run(script, env=env)
    assert result.stdout.strip() == "warm"
    assert "failed" not in result.stderr


def test_a_failing_step_is_logged_and_the_others_still_run(caplog):
    calls = []
    steps = (
        ("first", lambda: calls.append("first")),
        ("broken", mock.Mock(side_effect=RuntimeError("import failed"))),
        ("last", lambda: calls.append("last")),
    )
    with mock.patch.object(warmup, "STEPS", steps):
        warmup.web_worker_warm()
    assert calls == ["first", "last"]
    assert "warming up the broken failed" in caplog.text
    assert "import failed" in caplog.text


def test_gunicorn_warms_each_worker_after_loading_the_app():
    spec = importlib.util.spec_from_file_location(
        "gunicorn_conf_warmup_test", ROOT / "gunicorn.conf.py"
    )
    config = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(config)
    with mock.patch.object(warmup, "web_worker_warm") as warm:
        config.post_worker_init(worker=None)
    warm.assert_called_once_with()
