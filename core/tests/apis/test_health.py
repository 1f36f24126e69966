from unittest.mock import patch

import pytest
from django.db import OperationalError, connection

from vpnsite.celery import app


def test_healthz_does_no_io(db, client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_ok_when_database_and_broker_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_readyz_503_when_database_unreachable(client):
    with patch.object(connection, "cursor", side_effect=OperationalError("connection refused")):
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["reasons"]["database"].startswith("database unreachable")
    assert "broker" not in body["reasons"]


@pytest.mark.django_db
def test_readyz_503_when_broker_unreachable(client):
    dead = app.connection_for_write(url="redis://127.0.0.1:1/0")
    with patch.object(app, "connection_for_write", return_value=dead):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["reasons"]["broker"].startswith("broker unreachable")


def test_readyz_rejects_post(client):
    assert client.post("/readyz").status_code == 405
