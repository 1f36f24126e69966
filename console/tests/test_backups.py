import shutil
import subprocess
from io import StringIO

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from accounts.tests.factories import CustomerFactory
from console.backups import backups_rotate


def test_rotation_keeps_the_newest(tmp_path):
    for stamp in ("20260101-010000", "20260102-010000", "20260103-010000", "20260104-010000"):
        (tmp_path / f"vpnsite-{stamp}.dump").write_bytes(b"x")
    (tmp_path / "vpnsite-20260105-010000.dump.partial").write_bytes(b"x")
    (tmp_path / "unrelated.txt").write_text("keep")
    removed = backups_rotate(directory=tmp_path, keep=2)
    assert sorted(p.name for p in removed) == [
        "vpnsite-20260101-010000.dump",
        "vpnsite-20260102-010000.dump",
    ]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [
        "unrelated.txt",
        "vpnsite-20260103-010000.dump",
        "vpnsite-20260104-010000.dump",
        "vpnsite-20260105-010000.dump.partial",
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(shutil.which("pg_restore") is None, reason="needs postgresql-client")
def test_backup_restores_into_a_fresh_database(on_postgres, tmp_path):
    from billing.tests.factories import PaymentFactory
    from subscriptions.tests.factories import SubscriptionFactory

    customer = CustomerFactory(username="restore_me")
    subscription = SubscriptionFactory(customer=customer)
    payment = PaymentFactory(customer=customer, subscription=subscription, amount="299.00")
    out = StringIO()
    call_command("backup_db", "--dir", str(tmp_path), "--keep", "3", stdout=out)
    dumps = list(tmp_path.glob("vpnsite-*.dump"))
    assert len(dumps) == 1
    assert dumps[0].stat().st_mode & 0o777 == 0o600

    params = connection.get_connection_params()
    admin_dsn = {k: v for k, v in params.items() if k in {"host", "port", "user", "password"}}
    fresh = f"{connection.settings_dict['NAME']}_restore"
    with psycopg.connect(dbname="postgres", autocommit=True, **admin_dsn) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{fresh}"')
        admin.execute(f'CREATE DATABASE "{fresh}"')
    try:
        env_args = [
            f"--host={params.get('host', '127.0.0.1')}",
            f"--port={params.get('port', 5432)}",
        ]
        if params.get("user"):
            env_args.append(f"--username={params['user']}")
        subprocess.run(
            ["pg_restore", "--no-owner", f"--dbname={fresh}", *env_args, str(dumps[0])],
            check=True,
            capture_output=True,
            timeout=120,
        )
        with psycopg.connect(dbname=fresh, **admin_dsn) as restored:
            row = restored.execute(
                "SELECT telegram_id FROM accounts_customer WHERE username = %s", ["restore_me"]
            ).fetchone()
            sub_row = restored.execute(
                "SELECT feed_token, expires_at FROM subscriptions_subscription WHERE id = %s",
                [subscription.pk],
            ).fetchone()
            pay_row = restored.execute(
                "SELECT amount, subscription_id FROM billing_payment WHERE id = %s", [payment.pk]
            ).fetchone()
        assert row == (customer.telegram_id,)
        assert sub_row == (subscription.feed_token, subscription.expires_at)
        assert (str(pay_row[0]), pay_row[1]) == ("299.00", subscription.pk)
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **admin_dsn) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')
