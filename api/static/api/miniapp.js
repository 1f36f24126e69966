/* The Mini App (/app/): plain JavaScript over the subscriber API (/api/app/v1/).
 *
 * initData: Telegram's telegram-web-app.js is not loaded (no third-party script), so the
 * signed initData is read from window.Telegram.WebApp.initData when a host page provides it,
 * else from the URL fragment, where Telegram puts it when it opens a Mini App:
 * #tgWebAppData=<initData>&tgWebAppVersion=…&tgWebAppThemeParams=<JSON>
 * (https://core.telegram.org/bots/webapps#initializing-mini-apps and
 * https://docs.telegram-mini-apps.com/platform/launch-parameters). Every API call sends it
 * as "Authorization: tma <initData>"; the server checks its signature and age.
 * The theme (tgWebAppThemeParams, or Telegram.WebApp.themeParams) becomes the CSS
 * variables --tg-theme-<name>-color that miniapp.css uses, with fallbacks.
 * Texts come from the page (gettext, both languages); the customer's language picks one.
 * Inside Telegram the page talks to the client as telegram-web-app.js would, by posting
 * events (https://core.telegram.org/api/web-events: TelegramWebviewProxy.postEvent on
 * phones and desktop, postMessage to the parent in Telegram Web): web_app_ready and
 * web_app_expand at start, and links (pay, add to app, support) open outside the web view
 * with web_app_open_link / web_app_open_tg_link; a Telegram Stars invoice link opens the
 * payment sheet with web_app_open_invoice. In a plain browser links open as links.
 */
(function () {
  "use strict";

  var API = "/api/app/v1/";
  var ALL_TEXTS = JSON.parse(document.getElementById("miniapp-texts").textContent);
  var launch = new URLSearchParams(window.location.hash.slice(1));
  var webApp = window.Telegram && window.Telegram.WebApp;
  var initData = (webApp && webApp.initData) || launch.get("tgWebAppData") || "";
  var view = document.getElementById("view");
  // Until the profile names the customer's language: the browser's, Russian or English.
  var guess = /^en/i.test(navigator.language || "") ? "en" : "ru";
  var state = { profile: null, language: guess, T: ALL_TEXTS[guess], poll: null };

  function postEvent(type, data) {
    data = data || {};
    var proxy = window.TelegramWebviewProxy;
    if (proxy && typeof proxy.postEvent === "function") {
      proxy.postEvent(type, JSON.stringify(data));
      return true;
    }
    if (window.external && typeof window.external.notify === "function") {
      window.external.notify(JSON.stringify({ eventType: type, eventData: data }));
      return true;
    }
    if (window.parent !== window) {
      window.parent.postMessage(JSON.stringify({ eventType: type, eventData: data }), "https://web.telegram.org");
      return true;
    }
    return false;
  }

  // A Telegram Stars invoice link (createInvoiceLink: https://t.me/$<slug>, or /invoice/<slug>),
  // opened in Telegram's own payment sheet: web_app_open_invoice with the slug
  // (https://core.telegram.org/api/web-events#web-app-open-invoice).
  var INVOICE = /^https:\/\/t\.me\/(\$|invoice\/)([A-Za-z0-9_=-]+)$/;

  // A tap on a link that leaves the app: Telegram opens it (t.me links in Telegram itself).
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[href^='https://'], a[href^='http://']");
    if (!link || link.origin === window.location.origin && !link.target) return;
    var url = link.href;
    var invoice = INVOICE.exec(url);
    if (invoice) {
      if (webApp && typeof webApp.openInvoice === "function") {
        webApp.openInvoice(url);
        event.preventDefault();
      } else if (postEvent("web_app_open_invoice", { slug: invoice[2] })) {
        event.preventDefault();
      }
      return;
    }
    var sent = url.indexOf("https://t.me/") === 0
      ? postEvent("web_app_open_tg_link", { path_full: url.slice("https://t.me".length) })
      : postEvent("web_app_open_link", { url: url });
    if (sent) event.preventDefault();
  });

  function applyTheme() {
    var theme = webApp && webApp.themeParams;
    if (!theme) {
      try {
        theme = JSON.parse(launch.get("tgWebAppThemeParams") || "{}");
      } catch (e) {
        theme = {};
      }
    }
    Object.keys(theme || {}).forEach(function (key) {
      var value = String(theme[key]);
      if (/^#[0-9a-fA-F]{3,8}$/.test(value)) {
        var name = "--tg-theme-" + key.replace(/_/g, "-").replace(/-color$/, "") + "-color";
        document.documentElement.style.setProperty(name, value);
      }
    });
  }

  function t(key, values) {
    var text = state.T[key] || key;
    return text.replace(/%\((\w+)\)s/g, function (_all, name) {
      return values && name in values ? String(values[name]) : "";
    });
  }

  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = value;
      else if (name === "onclick") node.addEventListener("click", value);
      else node.setAttribute(name, value === true ? "" : value);
    });
    for (var i = 2; i < arguments.length; i++) {
      if (arguments[i]) node.appendChild(arguments[i]);
    }
    return node;
  }

  function show() {
    view.replaceChildren.apply(view, arguments);
    window.scrollTo(0, 0);
  }

  function message(text, className) {
    show(el("p", { class: className || "muted", text: text }));
  }

  function api(path, options) {
    options = options || {};
    var headers = { Authorization: "tma " + initData, Accept: "application/json" };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(API + path, {
      method: options.method || "GET",
      headers: headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: "omit",
    }).then(function (response) {
      return response.json().then(function (body) {
        if (response.ok) return body;
        var error = new Error(body.message || "error");
        error.code = body.code;
        error.status = response.status;
        throw error;
      });
    });
  }

  function failed(error) {
    if (error.code === "init_data_expired") return message(t("expired"), "error");
    if (error.status === 400 || error.status === 403) return message(error.message, "error");
    message(t("error"), "error");
  }

  function date(value) {
    return new Date(value).toLocaleString(state.language, {
      day: "numeric",
      month: "long",
      year: "numeric",
      hour: "2-digit",
      minute: "2-digit",
    });
  }

  function gb(bytes) {
    var value = (bytes / 1073741824).toLocaleString(state.language, {
      minimumFractionDigits: 1,
      maximumFractionDigits: 1,
    });
    return t("gb", { value: value });
  }

  function money(amount, currency) {
    try {
      return Number(amount).toLocaleString(state.language, { style: "currency", currency: currency });
    } catch (e) {
      return amount + " " + currency;
    }
  }

  function statusText(card) {
    if (card.status === "suspended") return t("status_suspended");
    var key = card.status === "active" ? "status_active" : "status_expired";
    return t(key, { date: date(card.expires_at) });
  }

  function trafficBlock(card) {
    var used = gb(card.traffic_used_bytes);
    if (!card.traffic_limit_bytes) return el("p", { class: "hint", text: t("traffic_unlimited", { used: used }) });
    return el(
      "div",
      { class: "traffic" },
      el("progress", {
        max: card.traffic_limit_bytes,
        value: Math.min(card.traffic_used_bytes, card.traffic_limit_bytes),
        class: card.over_traffic ? "over" : null,
      }),
      el("p", { class: "hint", text: t("traffic", { used: used, limit: gb(card.traffic_limit_bytes) }) })
    );
  }

  function cardTitle(card) {
    return t("subscription_title", { number: card.number, tariff: card.tariff_name });
  }

  function subscriptionCard(card) {
    return el(
      "section",
      { class: "card subscription", "data-id": card.id },
      el("h2", { text: cardTitle(card) }),
      card.is_trial ? el("p", { class: "hint", text: t("trial") }) : null,
      el("p", { class: "status", text: statusText(card) }),
      trafficBlock(card),
      el("p", { class: "hint", text: t("devices_count", { count: card.device_count, limit: card.hwid_device_limit || card.device_limit }) }),
      el("button", { type: "button", class: "details", text: t("details"), onclick: function () { openSubscription(card.id); } }),
      card.is_trial || card.status === "suspended"
        ? null
        : el("button", { type: "button", class: "secondary renew", text: t("renew"), onclick: function () { openBuy({ subscription: card.id }); } })
    );
  }

  function openList() {
    stopPolling();
    message(t("loading"));
    Promise.all([api("subscriptions/"), api("me/")]).then(function (loaded) {
      var cards = loaded[0];
      state.profile = loaded[1];
      var nodes = [el("h2", { text: t("subscriptions") })];
      if (state.profile) nodes.push(el("p", { class: "hint balance", text: t("balance", { amount: money(state.profile.balance, state.profile.balance_currency) }) }));
      if (!cards.length) nodes.push(el("p", { class: "muted", text: t("none") }));
      cards.forEach(function (card) { nodes.push(subscriptionCard(card)); });
      nodes.push(el("button", { type: "button", class: "buy", text: t("buy"), onclick: function () { openBuy({ new: true }); } }));
      show.apply(null, nodes);
    }, failed);
  }

  function backButton(action) {
    return el("button", { type: "button", class: "secondary back", text: t("back"), onclick: action || openList });
  }

  function copyButton(text) {
    var button = el("button", { type: "button", class: "secondary copy", text: t("copy") });
    button.addEventListener("click", function () {
      if (navigator.clipboard) {
        navigator.clipboard.writeText(text).then(function () { button.textContent = t("copied"); });
      }
    });
    return button;
  }

  function openSubscription(id, notice) {
    stopPolling();
    message(t("loading"));
    api("subscriptions/" + id + "/").then(function (detail) {
      var card = detail.card;
      var apps = el("div", { class: "apps" });
      card.apps.forEach(function (app) {
        apps.appendChild(el("a", { class: "button add", href: app.open_url, target: "_blank", rel: "noopener noreferrer", "data-app": app.app, text: t("add_to", { app: app.name }) }));
      });
      var keys = el("ul", { class: "plain keys" });
      detail.keys.forEach(function (key) {
        keys.appendChild(el("li", {}, el("span", { class: "hint", text: key.place }), el("code", { text: key.link })));
      });
      var devices = el("ul", { class: "plain devices" });
      detail.devices.forEach(function (device) {
        devices.appendChild(
          el(
            "li",
            { class: "row", "data-id": device.id },
            el("span", {}, el("span", { text: device.label }), el("span", { class: "hint", text: " " + device.details })),
            detail.removals.left === 0
              ? null
              : el("button", { type: "button", class: "danger remove", text: t("remove"), onclick: function (event) { confirmRemoval(event.currentTarget, id, device.id); } })
          )
        );
      });
      show(
        notice ? el("p", { class: "notice", text: notice }) : null,
        el("section", { class: "card" }, el("h2", { text: cardTitle(card) }), el("p", { class: "status", text: statusText(card) }), trafficBlock(card)),
        el("section", { class: "card" }, el("h2", { text: t("subscription_url") }), el("code", { id: "feed-url", text: card.feed_url }), copyButton(card.feed_url), apps),
        el("section", { class: "card" }, el("h2", { text: t("keys") }), detail.keys.length ? keys : el("p", { class: "muted", text: t("no_keys") })),
        el(
          "section",
          { class: "card" },
          el("h2", { text: t("devices") }),
          detail.devices.length ? devices : el("p", { class: "muted", text: t("no_devices") }),
          detail.removals.left === null ? null : el("p", { class: "hint", text: t("removals_left", { count: detail.removals.left }) })
        ),
        backButton()
      );
    }, failed);
  }

  // As the bot asks before removing: the first tap asks, the second removes.
  function confirmRemoval(button, subscriptionId, deviceId) {
    if (button.dataset.armed) return removeDevice(subscriptionId, deviceId);
    button.dataset.armed = "1";
    button.textContent = t("remove_confirm");
  }

  function removeDevice(subscriptionId, deviceId) {
    api("subscriptions/" + subscriptionId + "/devices/" + deviceId + "/", { method: "DELETE" }).then(function (removed) {
      openSubscription(subscriptionId, t("removed", { label: removed.label }));
    }, failed);
  }

  function openBuy(query) {
    stopPolling();
    message(t("loading"));
    var params = query.subscription ? "subscription=" + query.subscription : query.new ? "new=true" : "";
    api("tariffs/?" + params).then(function (options) {
      if (options.choices.length) {
        var nodes = [el("h2", { text: t("choose_subscription") })];
        options.choices.forEach(function (target) {
          nodes.push(el("button", { type: "button", text: t("renewal_of", { number: target.number }) + " · " + target.tariff_name, onclick: function () { openBuy({ subscription: target.id }); } }));
        });
        nodes.push(el("button", { type: "button", class: "secondary", text: t("new_subscription"), onclick: function () { openBuy({ new: true }); } }));
        nodes.push(backButton());
        return show.apply(null, nodes);
      }
      var nodes2 = [el("h2", { text: t("choose_tariff") })];
      if (options.target) nodes2.push(el("p", { class: "hint", text: t("renewal_of", { number: options.target.number }) }));
      options.tariffs.forEach(function (tariff) {
        nodes2.push(
          el("button", {
            type: "button",
            class: "tariff",
            "data-id": tariff.id,
            text: tariff.name + " · " + t("days", { days: tariff.duration_days }) + " · " + money(tariff.price, tariff.currency),
            onclick: function () { chooseProvider(tariff, options, null); },
          })
        );
      });
      nodes2.push(backButton());
      show.apply(null, nodes2);
    }, failed);
  }

  // The payment methods; `promo`: the offer of the code entered (promo/), if any.
  function chooseProvider(tariff, options, promo) {
    var price = promo ? promo.price : tariff.price;
    var nodes = [el("h2", { text: tariff.name + " · " + money(price, tariff.currency) })];
    if (promo && promo.price !== promo.price_before) {
      nodes.push(el("p", { class: "notice promo-note", text: t("promo_price", { code: promo.code, price: money(promo.price, promo.currency), before: money(promo.price_before, promo.currency) }) }));
    }
    if (promo && promo.days) nodes.push(el("p", { class: "notice promo-note", text: t("promo_days", { code: promo.code, days: promo.days }) }));
    var code = promo ? promo.code : "";
    if (promo && promo.free) {
      nodes.push(el("button", { type: "button", class: "free", text: t("promo_free"), onclick: function () { takeFree(tariff, options.target, code); } }));
      nodes.push(backButton(function () { chooseProvider(tariff, options); }));
      return show.apply(null, nodes);
    }
    nodes.push(el("p", { class: "hint", text: t("choose_provider") }));
    var fromBalance = promo ? promo.balance_pays : options.balance_tariffs.indexOf(tariff.id) !== -1;
    if (!options.providers.length && !fromBalance) nodes.push(el("p", { class: "error", text: t("no_providers") }));
    if (fromBalance) {
      nodes.push(el("button", { type: "button", class: "provider", "data-provider": "balance", text: t("from_balance", { balance: money(options.balance, "RUB") }), onclick: function () { checkout(tariff, "balance", options, code); } }));
    }
    options.providers.forEach(function (provider) {
      nodes.push(
        el("button", {
          type: "button",
          class: "provider",
          "data-provider": provider.code,
          text: provider.label,
          onclick: function () { checkout(tariff, provider.code, options, code); },
        })
      );
    });
    nodes.push(promoForm(tariff, options, code));
    nodes.push(backButton());
    show.apply(null, nodes);
  }

  function promoForm(tariff, options, code) {
    var input = el("input", { type: "text", id: "promo-code", maxlength: "32", autocomplete: "off", autocapitalize: "characters", placeholder: t("promo_code"), value: code || null });
    var error = el("p", { class: "error", hidden: true });
    var form = el("form", { class: "card promo" }, el("label", { for: "promo-code", text: t("promo_code") }), el("div", { class: "row" }, input, el("button", { type: "submit", class: "secondary", text: t("promo_apply") })), error);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var value = input.value.trim();
      if (!value) return chooseProvider(tariff, options);
      api("promo/?" + new URLSearchParams({ code: value, tariff: tariff.id })).then(function (offer) {
        if (offer.applies) return chooseProvider(tariff, options, offer);
        error.textContent = offer.error;
        error.hidden = false;
      }, failed);
    });
    return form;
  }

  function takeFree(tariff, target, code) {
    message(t("loading"));
    var body = { tariff: tariff.id, subscription: target ? target.id : null, promo_code: code };
    api("checkout/free/", { method: "POST", body: body }).then(function (granted) {
      openSubscription(granted.subscription, t("free_done", { title: granted.title, date: date(granted.expires_at) }));
    }, failed);
  }

  function checkout(tariff, provider, options, code) {
    message(t("loading"));
    var target = options.target;
    var body = { tariff: tariff.id, provider: provider, subscription: target ? target.id : null, promo_code: code || "" };
    api("checkout/", { method: "POST", body: body }).then(function (payment) {
      if (provider === "balance") return confirmBalance(payment, options.balance);
      show(
        el(
          "section",
          { class: "card" },
          el("h2", { text: payment.tariff.name }),
          el("a", { class: "button pay", href: payment.url, target: "_blank", rel: "noopener noreferrer", text: t("pay", { amount: money(payment.amount, payment.currency) }) }),
          el("p", { class: "hint", text: t("pay_hint", { minutes: payment.valid_minutes }) }),
          el("p", { class: "muted waiting", text: t("waiting") })
        ),
        backButton()
      );
      pollPayment(payment.payment_id);
    }, failed);
  }

  // As the bot asks before paying from the balance: the amount and what is left.
  function confirmBalance(payment, balance) {
    var amount = money(payment.amount, payment.currency);
    var after = money(Math.max(Number(balance) - Number(payment.amount), 0), payment.currency);
    show(
      el(
        "section",
        { class: "card" },
        el("h2", { text: payment.tariff.name }),
        el("p", { text: t("balance_confirm", { amount: amount, after: after }) }),
        el("button", {
          type: "button",
          class: "pay-balance",
          text: t("balance_pay", { amount: amount }),
          onclick: function (event) {
            event.currentTarget.disabled = true;
            api("payments/" + payment.payment_id + "/pay-from-balance/", { method: "POST" }).then(function (paid) {
              state.profile.balance = paid.balance;
              openSubscription(paid.payment.subscription, t("paid_balance"));
            }, failed);
          },
        })
      ),
      backButton()
    );
  }

  function stopPolling() {
    if (state.poll) window.clearInterval(state.poll);
    state.poll = null;
  }

  function pollPayment(paymentId) {
    stopPolling();
    state.poll = window.setInterval(function () {
      api("payments/" + paymentId + "/").then(function (payment) {
        if (payment.status === "paid" && payment.subscription) {
          stopPolling();
          openSubscription(payment.subscription, t("paid"));
        } else if (payment.status !== "pending") {
          stopPolling();
          openList();
        }
      }, function () {});
    }, 3000);
  }

  function setProfile(profile) {
    state.profile = profile;
    state.language = profile.language in ALL_TEXTS ? profile.language : "ru";
    state.T = ALL_TEXTS[state.language];
    document.documentElement.lang = state.language;
    document.title = t("title");
    document.getElementById("title").textContent = t("title");
    var languages = document.getElementById("languages");
    languages.hidden = false;
    languages.setAttribute("aria-label", t("language"));
    languages.querySelectorAll("button").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.dataset.language === state.language));
    });
    var support = document.getElementById("support");
    support.hidden = !profile.support_url;
    if (profile.support_url) {
      support.href = profile.support_url;
      support.textContent = t("support");
    }
  }

  document.getElementById("languages").addEventListener("click", function (event) {
    var language = event.target.dataset && event.target.dataset.language;
    if (!language || language === state.language) return;
    api("me/language/", { method: "POST", body: { language: language } }).then(function (profile) {
      setProfile(profile);
      openList();
    }, failed);
  });

  applyTheme();
  if (webApp && webApp.ready) webApp.ready();
  else {
    postEvent("web_app_ready");
    postEvent("web_app_expand");
  }
  if (!initData) {
    message(state.T.no_init_data, "error");
    return;
  }
  api("me/").then(function (profile) {
    setProfile(profile);
    openList();
  }, failed);
})();
