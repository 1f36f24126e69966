/* The subscription page and /sub/<token>/open/<app> (templates/subscriptions/).
 * Progressive: without this script the copy buttons stay hidden (the text is selectable)
 * and the "Open" link is tapped by hand. A static file: the CSP allows no inline script. */
(function () {
  "use strict";

  function copyByCommand(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    var done = false;
    try {
      done = document.execCommand("copy");
    } catch (e) {
      done = false;
    }
    document.body.removeChild(area);
    return done;
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(
        function () { return true; },
        function () { return copyByCommand(text); }
      );
    }
    return Promise.resolve(copyByCommand(text));
  }

  var canCopy = (navigator.clipboard && window.isSecureContext) ||
    (document.queryCommandSupported && document.queryCommandSupported("copy"));
  if (canCopy) {
    Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (button) {
      var label = button.textContent;
      button.hidden = false;
      button.addEventListener("click", function () {
        copy(button.getAttribute("data-copy")).then(function (done) {
          if (!done) { return; }
          button.textContent = button.getAttribute("data-copied");
          button.classList.add("copied");
          window.setTimeout(function () {
            button.textContent = label;
            button.classList.remove("copied");
          }, 2000);
        });
      });
    });
  }

  // /open/<app>: try the app once, after the page is shown (so a browser that refuses, or a
  // phone without the app, leaves the whole page to tap the link, install or copy).
  var open = document.querySelector("a[data-autoopen]");
  if (open) {
    window.addEventListener("load", function () {
      open.setAttribute("data-tried", "");
      window.location.href = open.href;
    });
  }
})();
