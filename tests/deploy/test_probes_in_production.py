"""The compose healthcheck and a Prometheus scrape reach the web over plain HTTP on loopback:
production settings must answer them (no DisallowedHost, no redirect to https)."""

from tests.settings.test_production_settings import run

PROBE = """
import django
django.setup()
from django.test import Client
client = Client()
for path in ["/healthz", "/metrics"]:
    response = client.get(path, HTTP_HOST="127.0.0.1:8000")
    print(path, response.status_code)
print("other", client.get("/healthz", HTTP_HOST="evil.example.net").status_code)
print("redirect", client.get("/pay/success/", HTTP_HOST="vpn.example.com").status_code)
"""


def test_loopback_probes_are_answered_and_other_hosts_refused():
    result = run(["-c", PROBE], {"LOG_LEVEL": "CRITICAL"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")
    assert "/healthz 200" in lines
    assert "/metrics 404" in lines  # off until METRICS_TOKEN / METRICS_ALLOWED_IPS are set
    assert "other 400" in lines
    assert "redirect 301" in lines  # everything else still goes to https
