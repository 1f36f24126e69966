"""The node page in the console (nodes/admin_pages.py): load, keys by state, traffic, the
checks' history and the last reconcile above the form; the node list's load bar and last
check; "Reconcile now" for operators only, audited; a bounded number of queries."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import CustomerFactory, UserFactory
from core.models import AuditEvent, AuditLog
from nodes.models import NodeCheck, NodeHealth, SyncState
from nodes.tests.factories import NodeClientFactory, NodeFactory
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

MAX_QUERIES = 15
LIST = reverse("admin:nodes_node_changelist")


def page_url(node) -> str:
    return reverse("admin:nodes_node_change", args=[node.pk])


def reconcile_url(node) -> str:
    return reverse("admin:nodes_node_reconcile", args=[node.pk])


@pytest.fixture(autouse=True)
def _english(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


def member(client, group: str):
    user = UserFactory(username=f"{group}-member")
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    return user


def key(node, *, state=SyncState.SYNCED, up=0, down=0, username=""):
    customer = CustomerFactory(username=username) if username else CustomerFactory()
    subscription = SubscriptionFactory(customer=customer)
    return NodeClientFactory(
        node=node, subscription=subscription, sync_state=state, traffic_up=up, traffic_down=down
    )


def checks(node, *, count: int, ok: bool = True, latency: int | None = 50, start=None):
    start = start or timezone.now() - timedelta(minutes=1)
    NodeCheck.objects.bulk_create(
        NodeCheck(
            node=node,
            checked_at=start - timedelta(seconds=12 * i),
            ok=ok,
            latency_ms=latency if ok else None,
            error="" if ok else "connection refused",
        )
        for i in range(count)
    )


def test_the_page_shows_keys_by_state_with_links_filtered_by_the_node(as_superuser):
    node = NodeFactory(max_clients=10)
    other = NodeFactory()
    for state, n in ((SyncState.SYNCED, 3), (SyncState.PENDING, 2), (SyncState.ERROR, 1)):
        for _ in range(n):
            key(node, state=state)
    key(node, state=SyncState.REMOVED)
    key(other, state=SyncState.SYNCED)  # another node's key counts nowhere here

    response = as_superuser.get(page_url(node))
    assert response.status_code == 200
    states = response.context["key_states"]
    assert {s["state"]: s["count"] for s in states} == {
        "pending": 2,
        "synced": 3,
        "error": 1,
        "removing": 0,
        "removed": 1,
    }
    error_link = next(s["url"] for s in states if s["state"] == "error")
    assert error_link == (
        f"{reverse('admin:nodes_nodeclient_changelist')}"
        f"?node__id__exact={node.pk}&sync_state__exact=error"
    )
    listed = as_superuser.get(error_link).context["cl"].result_list
    assert [k.sync_state for k in listed] == ["error"]
    html = response.content.decode()
    assert f'href="{error_link.replace("&", "&amp;")}"' in html
    assert f"?node={node.pk}" in response.context["subscriptions_url"]
    # Load: 6 keys on the node (removed ones take no slot) of 10, and 6 of the 7 keys anywhere.
    assert response.context["overview"].load == 6
    assert 'value="6" min="0" max="10"' in html
    assert response.context["overview"].keys_share == Decimal("85.7")


def test_traffic_totals_and_top_keys(as_superuser):
    node = NodeFactory()
    key(node, up=3 * 1024**3, down=1024**3, username="heavy")
    key(node, up=1024, down=1024, username="light")
    key(node, up=0, down=0, username="idle")
    key(node, state=SyncState.REMOVED, up=50 * 1024**3, down=0, username="gone")
    key(NodeFactory(), up=99 * 1024**3, username="elsewhere")

    response = as_superuser.get(page_url(node))
    overview = response.context["overview"]
    assert (overview.traffic_up, overview.traffic_down) == (3 * 1024**3 + 1024, 1024**3 + 1024)
    assert response.context["traffic_total"] == "4.0 GiB"
    names = [t["key"].subscription.customer.username for t in response.context["top_keys"]]
    assert names == ["heavy", "light"]  # no idle, removed or other node's key
    assert "heavy" in response.content.decode()


def test_uptime_latency_and_last_failure_from_the_checks(as_superuser):
    node = NodeFactory(health=NodeHealth.UP, latency_ms=40, last_check_at=timezone.now())
    now = timezone.now()
    checks(node, count=3, latency=100, start=now - timedelta(hours=1))
    checks(node, count=1, ok=False, start=now - timedelta(hours=2))
    checks(node, count=4, latency=400, start=now - timedelta(days=3))

    response = as_superuser.get(page_url(node))
    html = response.content.decode()
    uptime = html[
        html.index('id="node-uptime"') : html.index("</table>", html.index('id="node-uptime"'))
    ]
    assert "75.0 %" in uptime  # 3 of the last day's 4 checks
    assert "87.5 %" in uptime  # 7 of the week's 8
    assert "100 ms" in uptime  # the failed check has no latency
    assert "271 ms" in uptime  # (3 * 100 + 4 * 400) / 7
    assert "connection refused" in html[html.index('id="node-last-failure"') :]
    assert html.count('class="point"') >= 2  # the day's and the week's hour with checks
    assert 'class="alert"' in html  # the failed hour is marked


def test_a_node_without_checks_says_so(as_superuser):
    node = NodeFactory()
    response = as_superuser.get(page_url(node))
    html = response.content.decode()
    assert 'id="node-no-checks"' in html
    assert "console-chart" not in html
    assert "Not reconciled yet." in html
    assert "No failed check is on record." in html


def test_the_last_reconcile_and_its_counts(as_superuser):
    node = NodeFactory(
        last_reconcile_at=timezone.now() - timedelta(minutes=5),
        last_reconcile_result={
            "ok": False,
            "added": 4,
            "updated": 2,
            "removed": 1,
            "unchanged": 90,
            "errors": 3,
            "orphans_disabled": 5,
            "orphans_deleted": 0,
            "orphans_pending": 5,
            "requests": 7,
            "at": timezone.now().isoformat(),
        },
    )
    html = as_superuser.get(page_url(node)).content.decode()
    part = html[html.index('id="node-reconcile"') :]
    for name, value in (("added", 4), ("updated", 2), ("errors", 3), ("orphans_disabled", 5)):
        assert f'id="node-reconcile-{name}"' in part
        row = part[part.index(f'id="node-reconcile-{name}"') :]
        assert f'<td class="num">{value}</td>' in row[: row.index("</tr>")]
    assert "some keys failed" in part
    assert "5\xa0minutes ago" in part


def test_a_failed_reconcile_shows_its_error(as_superuser):
    node = NodeFactory(
        last_reconcile_at=timezone.now(),
        last_reconcile_result={"ok": False, "error": "inbound 7 not found", "at": "x"},
    )
    part = as_superuser.get(page_url(node)).content.decode()
    part = part[part.index('id="node-reconcile"') :]
    assert "inbound 7 not found" in part
    assert ">failed<" in part


def test_reconcile_now_queues_the_task_and_names_the_operator(
    as_superuser, superuser, monkeypatch, django_capture_on_commit_callbacks
):
    node = NodeFactory()
    queued = []
    monkeypatch.setattr("nodes.tasks.node_reconcile_task.delay", queued.append)
    assert 'id="node-reconcile-now"' in as_superuser.get(page_url(node)).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = as_superuser.post(reconcile_url(node))
    assert response.status_code == 302
    assert response.url == page_url(node)
    assert queued == [node.pk]
    row = AuditLog.objects.get(event_type=AuditEvent.ADMIN_ACTION)
    assert row.acting_user == superuser
    assert row.object_id == str(node.pk)
    assert row.extra_data == {"action": "node_reconcile"}


def test_reconcile_now_runs_the_real_task(as_superuser, django_capture_on_commit_callbacks):
    """Eager Celery: the queued task reconciles (the factory's panel refuses connections) and
    the page shows the failure."""
    node = NodeFactory()
    with django_capture_on_commit_callbacks(execute=True):
        as_superuser.post(reconcile_url(node))
    node.refresh_from_db()
    assert node.last_reconcile_at is not None
    assert node.last_reconcile_result["ok"] is False
    part = as_superuser.get(page_url(node)).content.decode()
    assert node.last_reconcile_result["error"][:20] in part


def test_reconcile_now_is_a_post(as_superuser, monkeypatch):
    node = NodeFactory()
    monkeypatch.setattr("nodes.tasks.node_reconcile_task.delay", pytest.fail)
    assert as_superuser.get(reconcile_url(node)).status_code == 405
    assert not AuditLog.objects.exists()


def test_support_views_the_page_but_cannot_reconcile(
    client, monkeypatch, django_capture_on_commit_callbacks
):
    member(client, "support")
    node = NodeFactory()
    key(node, up=1024**3)
    checks(node, count=2)
    queued = []
    monkeypatch.setattr("nodes.tasks.node_reconcile_task.delay", queued.append)
    response = client.get(page_url(node))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="node-keys"' in html
    assert 'id="node-traffic"' in html
    assert "console-chart" in html
    assert 'id="node-reconcile-now"' not in html
    assert 'name="name"' not in html  # the form is read-only
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reconcile_url(node)).status_code == 403
    assert queued == []
    assert not AuditLog.objects.exists()


def test_operators_may_reconcile(client, monkeypatch, django_capture_on_commit_callbacks):
    operator = member(client, "operators")
    node = NodeFactory()
    queued = []
    monkeypatch.setattr("nodes.tasks.node_reconcile_task.delay", queued.append)
    assert 'id="node-reconcile-now"' in client.get(page_url(node)).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reconcile_url(node)).status_code == 302
    assert queued == [node.pk]
    assert AuditLog.objects.get().acting_user == operator


def test_the_node_list_shows_load_health_latency_and_last_check(as_superuser):
    full = NodeFactory(name="full", max_clients=4, health=NodeHealth.UP, latency_ms=37)
    NodeFactory(name="open", max_clients=0, health=NodeHealth.DOWN)
    for _ in range(3):
        key(full)
    full.last_check_at = timezone.now() - timedelta(minutes=3)
    full.save()
    html = as_superuser.get(LIST).content.decode()
    assert 'value="3" min="0" max="4"' in html
    assert "3 / 4" in html
    assert "0 / unlimited" in html
    assert "37 ms" in html
    assert "3\xa0minutes ago" in html
    assert "Down" in html


def fill(nodes, *, keys_per_node: int, checks_per_node: int):
    for node in nodes:
        for i in range(keys_per_node):
            key(node, state=[SyncState.SYNCED, SyncState.ERROR][i % 2], up=i * 1000)
        checks(node, count=checks_per_node // 2)
        checks(node, count=checks_per_node // 2, ok=False, start=timezone.now() - timedelta(days=2))


def count_queries(client, url, django_assert_max_num_queries) -> int:
    client.get(url)  # warm Django's per-process caches (content types)
    with django_assert_max_num_queries(MAX_QUERIES) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize("target", ["page", "list"])
def test_queries_do_not_grow_with_keys_or_checks(
    as_superuser, django_assert_max_num_queries, target
):
    nodes = [NodeFactory(max_clients=100), NodeFactory()]
    url = page_url(nodes[0]) if target == "page" else LIST
    fill(nodes, keys_per_node=2, checks_per_node=4)
    small = count_queries(as_superuser, url, django_assert_max_num_queries)
    fill(nodes, keys_per_node=20, checks_per_node=400)
    large = count_queries(as_superuser, url, django_assert_max_num_queries)
    assert large == small


def test_support_page_queries_are_bounded(client, django_assert_max_num_queries):
    member(client, "support")
    node = NodeFactory()
    fill([node], keys_per_node=10, checks_per_node=100)
    count_queries(client, page_url(node), django_assert_max_num_queries)


def test_the_page_in_russian(client, superuser):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "ru"
    client.force_login(superuser)
    node = NodeFactory(max_clients=0)
    key(node, up=2 * 1024**3)
    checks(node, count=3)
    html = client.get(page_url(node)).content.decode()
    for text in ("Нагрузка", "Ключи по состоянию синхронизации", "История задержки", "2,0 ГБ"):
        assert text in html
    assert "без ограничения" in html
    assert "Сверить сейчас" in html


def test_the_groups_have_the_health_check_permissions():
    support = set(
        Group.objects.get(name="support")
        .permissions.filter(content_type__model="nodecheck")
        .values_list("codename", flat=True)
    )
    operators = set(
        Group.objects.get(name="operators")
        .permissions.filter(content_type__model="nodecheck")
        .values_list("codename", flat=True)
    )
    assert support == {"view_nodecheck"}
    assert operators == {"add_nodecheck", "change_nodecheck", "delete_nodecheck", "view_nodecheck"}


@pytest.mark.parametrize("action", ["check_now", "reconcile_now"])
def test_support_is_not_offered_the_lists_panel_actions(client, monkeypatch, action):
    """Checking and reconciling talk to the panel: the node list offers them to those who may
    change nodes, and refuses a posted one from support (nothing queued, nothing checked)."""
    member(client, "support")
    node = NodeFactory()
    called = []
    monkeypatch.setattr("nodes.tasks.node_reconcile_task.delay", called.append)
    monkeypatch.setattr("nodes.admin.node_health_check", lambda **kw: called.append(kw))
    changelist = reverse("admin:nodes_node_changelist")
    assert f'value="{action}"' not in client.get(changelist).content.decode()
    client.post(changelist, {"action": action, "_selected_action": [str(node.pk)]})
    assert called == []
