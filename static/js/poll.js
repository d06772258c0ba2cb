// Background refresh for elements marked data-background-poll (the operations page), without eval.
// The Content-Security-Policy forbids eval, so htmx trigger filters such as
// hx-trigger="every 5s [document.visibilityState === 'visible']" cannot run. Instead the element says
// hx-trigger="every 5s" data-background-poll data-hidden-interval-ms="60000": it refreshes at its own
// interval while the tab is visible, at most once per data-hidden-interval-ms while it is hidden.
// Its requests carry X-Vault-Background, so a page that refreshes itself does not keep an idle session
// alive (reviews/middleware.py). A refresh (or an action swapping the region) keeps keyboard focus: see below.
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

  // A refresh keeps keyboard focus. Every control in a polled region carries a stable id, and htmx gives
  // focus back to the element with the same id in the new content. When that element is gone (the row a
  // Retry just started over leaves the list), focus goes to the enclosing [data-focus-fallback] section
  // (tabindex="-1"), matched by id too, rather than falling to the document body.
  var pendingFallback = null; // the fallback section's id, noted before the swap

  function pollerOf(elt) {
    return elt && elt.closest ? elt.closest("[data-background-poll]") : null;
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    pendingFallback = null;
    var target = event.detail.target;
    var active = document.activeElement;
    if (!isPoller(target) || !active || active === document.body || !target.contains(active)) return;
    var section = active.closest("[data-focus-fallback]");
    pendingFallback = section && section.id ? section.id : target.id || null;
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (!pendingFallback || !pollerOf(event.target)) return;
    var fallbackId = pendingFallback;
    pendingFallback = null;
    var active = document.activeElement;
    if (active && active !== document.body && active.isConnected) return; // htmx restored it by id
    var fallback = document.getElementById(fallbackId);
    if (fallback) fallback.focus({ preventScroll: true });
  });
})();
