// Background refresh for elements marked data-background-poll (the operations page), without eval.
// The Content-Security-Policy forbids eval, so htmx trigger filters such as
// hx-trigger="every 5s [document.visibilityState === 'visible']" cannot run. Instead the element says
// hx-trigger="every 5s" data-background-poll data-hidden-interval-ms="60000": it refreshes at its own
// interval while the tab is visible, at most once per data-hidden-interval-ms while it is hidden.
// Its requests carry X-Vault-Background, so a page that refreshes itself does not keep an idle session
// alive (reviews/middleware.py).
(function () {
  "use strict";

  var lastRefresh = {}; // by element id: the element is replaced by every swap

  function isPoller(elt) {
    return Boolean(elt && elt.hasAttribute && elt.hasAttribute("data-background-poll"));
  }

  document.addEventListener("htmx:configRequest", function (event) {
    if (isPoller(event.detail.elt)) event.detail.headers["X-Vault-Background"] = "1";
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (!isPoller(elt)) return;
    var hiddenInterval = Number(elt.getAttribute("data-hidden-interval-ms")) || 0;
    var now = Date.now();
    var key = elt.id || "";
    if (document.visibilityState !== "visible" && now - (lastRefresh[key] || 0) < hiddenInterval) {
      event.preventDefault();
      return;
    }
    lastRefresh[key] = now;
  });
})();
