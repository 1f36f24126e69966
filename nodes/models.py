from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.crypto import secret_mask
from core.fields import EncryptedTextField
from core.models import BaseModel


class NodeHealth(models.TextChoices):
    UNKNOWN = "unknown", _("Unknown")
    UP = "up", _("Up")
    DEGRADED = "degraded", _("Degraded")
    DOWN = "down", _("Down")


class PanelGeneration(models.TextChoices):
    UNKNOWN = "unknown", _("Not detected")
    LEGACY = "legacy", _("Legacy (≤ v3.0.2, inbound-scoped clients)")
    V3 = "v3", _("v3.1+ (/panel/api/clients)")


_DEFAULT_PORTS = {"http": 80, "https": 443}


def panel_url_normalize(url: str) -> str:
    """One spelling per panel: lower-case scheme and host, no default port, a trailing slash.

    3x-ui's ``webBasePath`` is case-sensitive, so the path is kept as written.
    """
    parts = urlsplit((url or "").strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        return url  # field validation reports it
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    path = parts.path if parts.path.endswith("/") else f"{parts.path}/"
    return urlunsplit((scheme, netloc, path, "", ""))


class Node(BaseModel):
    """A 3x-ui panel with one VLESS inbound that holds our keys."""

    name = models.CharField(max_length=64, unique=True, verbose_name=_("name"))
    country = models.CharField(
        max_length=2,
        blank=True,
        default="",
        help_text=_("ISO 3166 code"),
        verbose_name=_("country"),
    )
    location = models.CharField(max_length=64, blank=True, default="", verbose_name=_("location"))
    # Including webBasePath, e.g. https://panel.example.com:2053/Abc123/
    panel_url = models.URLField(max_length=300, verbose_name=_("panel URL"))
    panel_username = models.CharField(
        max_length=128, blank=True, default="", verbose_name=_("panel username")
    )
    panel_password = EncryptedTextField(blank=True, default="", verbose_name=_("panel password"))
    panel_api_token = EncryptedTextField(blank=True, default="", verbose_name=_("panel API token"))
    inbound_id = models.PositiveIntegerField(verbose_name=_("inbound id"))
    public_host = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text=_("Host in links; panel host if blank"),
        verbose_name=_("public host"),
    )
    public_port = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("Port in links; inbound port if blank"),
        verbose_name=_("public port"),
    )
    is_enabled = models.BooleanField(default=True, db_index=True, verbose_name=_("enabled"))
    weight = models.PositiveSmallIntegerField(default=1, verbose_name=_("weight"))
    max_clients = models.PositiveIntegerField(
        default=0, help_text=_("0 = unlimited"), verbose_name=_("max keys")
    )
    # Balancer state: the number of picks so far, for smooth weighted round-robin.
    assigned_total = models.PositiveBigIntegerField(
        default=0, verbose_name=_("keys assigned in total")
    )

    health = models.CharField(
        max_length=10,
        choices=NodeHealth.choices,
        default=NodeHealth.UNKNOWN,
        db_index=True,
        verbose_name=_("health"),
    )
    consecutive_failures = models.PositiveIntegerField(
        default=0, verbose_name=_("consecutive failures")
    )
    last_check_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last check at"))
    last_ok_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last OK at"))
    last_error = models.TextField(blank=True, default="", verbose_name=_("last error"))
    latency_ms = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("latency (ms)"))
    panel_generation = models.CharField(
        max_length=10,
        choices=PanelGeneration.choices,
        default=PanelGeneration.UNKNOWN,
        verbose_name=_("panel generation"),
    )
    # The inbound as last fetched (port, protocol, streamSettings): links are built from it.
    inbound_cache = models.JSONField(default=dict, blank=True, verbose_name=_("inbound cache"))
    inbound_cached_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("inbound cached at")
    )
    last_reconcile_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("last reconcile at")
    )
    last_reconcile_result = models.JSONField(
        default=dict, blank=True, verbose_name=_("last reconcile result")
    )
    # Our clients seen on the panel without a key here: email -> first seen (ISO time).
    orphans_first_seen = models.JSONField(
        default=dict, blank=True, verbose_name=_("orphans first seen")
    )
    # The panel refused our login: no login is tried again for a while
    # (node_login_paused_until), unless the credentials (their digest here) change.
    login_refusals = models.PositiveIntegerField(default=0, verbose_name=_("login refusals"))
    login_refused_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("login refused at")
    )
    login_refused_digest = models.CharField(
        max_length=64, blank=True, default="", verbose_name=_("refused credentials digest")
    )

    class Meta:
        verbose_name = _("node")
        verbose_name_plural = _("nodes")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(weight__gte=0), name="node_weight_non_negative"),
            models.CheckConstraint(condition=~Q(panel_url=""), name="node_panel_url_not_empty"),
            models.UniqueConstraint(
                fields=["panel_url", "inbound_id"], name="node_one_per_panel_inbound"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """One node per panel inbound: two nodes on one inbound would each take the other's
        keys for orphans (disable, then delete them)."""
        super().clean()
        if not self.panel_url or self.inbound_id is None:
            return
        self.panel_url = panel_url_normalize(self.panel_url)
        twin = (
            Node.objects.filter(panel_url=self.panel_url, inbound_id=self.inbound_id)
            .exclude(pk=self.pk)
            .first()
        )
        if twin is not None:
            raise ValidationError(
                {
                    "inbound_id": _("Node %(node)s already uses inbound %(inbound)s of this panel.")
                    % {"node": twin.name, "inbound": self.inbound_id}
                }
            )

    @property
    def panel_password_masked(self) -> str:
        return secret_mask(self.panel_password)

    @property
    def panel_api_token_masked(self) -> str:
        return secret_mask(self.panel_api_token)


class SyncState(models.TextChoices):
    PENDING = "pending", _("Pending")
    SYNCED = "synced", _("Synced")
    ERROR = "error", _("Error")
    REMOVING = "removing", _("Removing")
    REMOVED = "removed", _("Removed")


class NodeClient(BaseModel):
    """A key: one subscription's client on one node, with the state the panel must converge to."""

    subscription = models.ForeignKey(
        "subscriptions.Subscription",
        on_delete=models.CASCADE,
        related_name="keys",
        verbose_name=_("subscription"),
    )
    node = models.ForeignKey(
        Node, on_delete=models.PROTECT, related_name="clients", verbose_name=_("node")
    )
    # Stable and derived (s<subscription id>); the panel's client key on v3.1+.
    email = models.CharField(max_length=64, verbose_name=_("client email on the panel"))
    # Desired state on the panel.
    enable = models.BooleanField(default=True, verbose_name=_("enabled"))
    expiry_time_ms = models.BigIntegerField(default=0, verbose_name=_("expiry time (ms)"))
    limit_ip = models.PositiveIntegerField(default=0, verbose_name=_("IP limit"))
    total_bytes = models.PositiveBigIntegerField(default=0, verbose_name=_("traffic limit (bytes)"))
    # Convergence bookkeeping: desired_version grows on every change; synced_version is the
    # last one the panel confirmed, so a change made during a sync is never lost.
    sync_state = models.CharField(
        max_length=10,
        choices=SyncState.choices,
        default=SyncState.PENDING,
        db_index=True,
        verbose_name=_("sync state"),
    )
    desired_version = models.PositiveIntegerField(default=1, verbose_name=_("desired version"))
    synced_version = models.PositiveIntegerField(default=0, verbose_name=_("synced version"))
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    # Set before an add is sent, cleared when the panel's answer or a listing settled it: a
    # key with an add in doubt is never added blindly again (docs/x3ui.md).
    add_sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("add sent at"))
    last_error = models.TextField(blank=True, default="", verbose_name=_("last error"))
    last_synced_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last synced at"))
    # Traffic as the panel last reported it.
    traffic_up = models.PositiveBigIntegerField(default=0, verbose_name=_("traffic up (bytes)"))
    traffic_down = models.PositiveBigIntegerField(default=0, verbose_name=_("traffic down (bytes)"))
    # A scheduled traffic reset (nodes/services/resets.py): the panel's counters must be
    # reset for the period that began at traffic_reset_due_at; a reset sent (or found
    # unnecessary) at traffic_reset_done_at >= due covers it. A request is claimed first
    # (when, and the counter read just before), so a lost answer is settled by reading the
    # panel's counter back, never by resetting a new period's traffic again.
    traffic_reset_due_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("traffic reset due at")
    )
    traffic_reset_done_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("traffic reset done at")
    )
    traffic_reset_sent_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("traffic reset sent at")
    )
    traffic_reset_sent_counter = models.PositiveBigIntegerField(
        null=True, blank=True, verbose_name=_("counter before the reset")
    )

    class Meta:
        verbose_name_plural = _("keys")
        ordering = ["-created_at"]
        verbose_name = _("key")
        # A node's live keys by subscription, read from the index alone: the API's and the
        # console's "subscriptions on this node" count (bench/README.md, api).
        indexes = [
            models.Index(
                fields=["node", "subscription", "sync_state"], name="nodeclient_node_subscription"
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["node", "email"], name="nodeclient_unique_email_per_node"
            ),
            models.UniqueConstraint(
                fields=["subscription", "node"], name="nodeclient_one_key_per_subscription_node"
            ),
            models.CheckConstraint(
                condition=Q(synced_version__lte=models.F("desired_version")),
                name="nodeclient_synced_not_ahead",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email}@{self.node_id}"


class NodeCheck(models.Model):
    """One health check of a node (``nodes.services.health``): whether the VPN answered and
    how fast. One row per check (every NODE_HEALTH_INTERVAL seconds per enabled node: 7,200
    a node a day at the default 12 s), kept NODE_CHECK_RETENTION_DAYS days
    (``nodes.services.checks.node_checks_prune``). The node page draws its latency and
    uptime from these rows."""

    node = models.ForeignKey(
        Node, on_delete=models.CASCADE, related_name="checks", verbose_name=_("node")
    )
    checked_at = models.DateTimeField(_("checked at"))
    # The panel answered and its xray core runs: the node serves keys.
    ok = models.BooleanField(_("OK"))
    # Login + status + inbound, measured when the panel answered.
    latency_ms = models.PositiveIntegerField(_("latency, ms"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True, default="")

    class Meta:
        verbose_name = _("health check")
        verbose_name_plural = _("health checks")
        ordering = ["-checked_at"]
        indexes = [
            models.Index(fields=["node", "checked_at"], name="nodecheck_node_time"),
            # The node page's "last error": the newest failed check without walking the
            # successful ones.
            models.Index(
                fields=["node", "-checked_at"],
                condition=Q(ok=False),
                name="nodecheck_node_failed_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.node_id} {self.checked_at:%Y-%m-%d %H:%M:%S} {'ok' if self.ok else 'failed'}"
