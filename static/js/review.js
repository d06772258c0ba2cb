// Transcript review page: the player and the transcript in sync, ?t= deep links, find in transcript.
// - Playing highlights the current turn (aria-current); "Follow playback" keeps it in view, scrolling
//   smoothly unless the reader asked for reduced motion.
// - A click on a turn, or on its time, plays from there; Space plays or pauses and the arrow keys seek
//   5 s, unless focus is in a form field or on a control that uses those keys itself.
// - A recording's data-offset-ms says where it starts in the call: audio time + offset = transcript time.
// - The player may arrive after the page: a transcribed call's recording is fetched in the background
//   and swapped in by htmx (templates/reviews/conversation.html#audio-player); it is bound when it does.
// The page holds one window of turns; "Earlier/Later turns" loaders swap more rows in with htmx,
// so every handler below is delegated or re-scans the list after a swap.
// Plain DOM code, no build step. Transcript text is only ever read via textContent.
(function () {
  "use strict";

  var SEEK_STEP_MS = 5000;
  // Focus here keeps its own keys: typing, choosing, pressing a button, the audio element's own controls.
  var OWN_KEYS = "input, textarea, select, button, audio, video, summary, [contenteditable]," +
    " [role=slider], [role=textbox], [role=combobox], [role=listbox], [role=menu], [role=spinbutton]";
  // A click on these inside a turn does their own thing, not a seek.
  var INTERACTIVE = "a, button, input, textarea, select, label, summary, details, form, [data-seek]";
  var reducedMotion = window.matchMedia ? window.matchMedia("(prefers-reduced-motion: reduce)") : null;

  function scrollBehavior() {
    return reducedMotion && reducedMotion.matches ? "auto" : "smooth";
  }

  function currentPlayer() {
    return document.getElementById("player");
  }

  function offsetOf(player) {
    return Number(player.dataset.offsetMs) || 0;
  }

  function init() {
    bindKeys();
    var turnsList = document.getElementById("turns");
    if (!turnsList) return;
    if (turnsList.dataset.ready) {
      turnsList.syncPlayer();  // the player may just have been swapped in
      return;
    }
    turnsList.dataset.ready = "1";

    var turns = [], starts = [];
    var current = null;

    function follow() {
      var toggle = document.getElementById("follow-playback");
      return !toggle || toggle.checked;
    }

    function scan() {
      turns = Array.prototype.slice.call(turnsList.querySelectorAll(".turn"));
      starts = turns.map(function (el) { return Number(el.dataset.start); });
      if (current && !turnsList.contains(current)) current = null;
    }

    function turnAt(ms) {
      // Last turn that started at or before ms (turns are sorted by start).
      var lo = 0, hi = starts.length - 1, found = -1;
      while (lo <= hi) {
        var mid = (lo + hi) >> 1;
        if (starts[mid] <= ms) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
      }
      if (found === starts.length - 1 && found >= 0 && turnsList.querySelector(".turns-later")) {
        // Past the loaded window: the turn playing now is not on the page yet.
        if (ms > Number(turns[found].dataset.end)) return null;
      }
      return found >= 0 ? turns[found] : null;
    }

    function highlight(turn, scroll) {
      if (turn === current) return;
      if (current) {
        current.classList.remove("playing");
        current.removeAttribute("aria-current");
      }
      current = turn;
      if (!turn) return;
      turn.classList.add("playing");
      turn.setAttribute("aria-current", "time");
      if (scroll) turn.scrollIntoView({ block: "center", behavior: scrollBehavior() });
    }

    function seek(ms) {
      highlight(turnAt(ms), false);
      var player = currentPlayer();
      if (!player) return;
      player.currentTime = Math.max(ms - offsetOf(player), 0) / 1000;
      var playing = player.play();
      if (playing && playing.catch) playing.catch(function () { /* autoplay blocked: user presses play */ });
    }

    function updateRange() {
      // Header "Turns 1–1,000 of 10,000" follows what is loaded now.
      var range = document.getElementById("turn-range");
      if (!range) return;
      var total = Number(range.dataset.total), size = Number(turnsList.dataset.chunkSize);
      var earlier = turnsList.querySelector(".turns-earlier");
      var first = earlier ? (Number(earlier.dataset.chunk) + 1) * size : 0;
      var shown = turns.length;
      if (shown >= total) {
        range.textContent = total.toLocaleString("en") + (total === 1 ? " turn" : " turns");
      } else {
        range.textContent = "Turns " + (first + 1).toLocaleString("en") + "\u2013" +
          (first + shown).toLocaleString("en") + " of " + total.toLocaleString("en");
      }
    }

    function loadLaterFor(ms) {
      // Playback ran past the loaded turns: fetch the next chunk, as scrolling to "Later turns" would.
      var later = turnsList.querySelector(".turns-later a");
      if (!later || later.dataset.loading || !window.htmx || !turns.length) return;
      if (ms <= Number(turns[turns.length - 1].dataset.end)) return;
      later.dataset.loading = "1";
      window.htmx.trigger(later, "click");
    }

    scan();

    document.addEventListener("click", function (event) {
      var target = event.target.closest("[data-seek]");
      if (!target) return;
      var ms = Number(target.dataset.seek);
      if (target.tagName === "A") {
        // A finding on a turn outside the loaded window links to ?t=...#u-...: let the browser load that part.
        var id = target.hash ? target.hash.slice(1) : "";
        var onPage = id ? document.getElementById(id) : target.getAttribute("href").charAt(0) === "#";
        if (!onPage) return;
        var turn = turnAt(ms);
        if (turn) turn.scrollIntoView({ block: "center", behavior: scrollBehavior() });
        event.preventDefault();
      }
      seek(ms);
    });

    // A click anywhere on a turn plays from its start, unless it was on a control or ended a text selection.
    turnsList.addEventListener("click", function (event) {
      if (!currentPlayer() || event.target.closest(INTERACTIVE)) return;
      var turn = event.target.closest(".turn");
      if (!turn || !turnsList.contains(turn)) return;
      var selection = window.getSelection ? String(window.getSelection()) : "";
      if (selection) return;
      seek(Number(turn.dataset.start));
    });

    // Rows swapped in by the "Earlier/Later turns" loaders: htmx fires afterSwap once per new row,
    // so re-scan once after the batch.
    var refind = function () {};
    var rescanPending = false;
    var keep = null;  // the turn below an "Earlier turns" loader and where it was on screen
    document.addEventListener("htmx:beforeSwap", function (event) {
      var loader = event.detail.target;
      if (!loader || !loader.classList || !loader.classList.contains("turns-earlier")) return;
      var below = loader.nextElementSibling;
      keep = below ? { el: below, top: below.getBoundingClientRect().top } : null;
    });
    document.addEventListener("htmx:afterSwap", function (event) {
      if (!turnsList.contains(event.target)) return;
      if (keep) {
        // Rows inserted above the reader must not push what they were reading off screen.
        window.scrollBy(0, keep.el.getBoundingClientRect().top - keep.top);
        keep = null;
      }
      if (rescanPending) return;
      rescanPending = true;
      setTimeout(function () {
        rescanPending = false;
        scan();
        updateRange();
        var player = currentPlayer();
        if (player && !player.paused) highlight(turnAt(offsetOf(player) + player.currentTime * 1000), false);
        refind();
      }, 0);
    });

    var startMs = turnsList.dataset.startMs !== undefined ? Number(turnsList.dataset.startMs) : null;

    function bindPlayer() {
      // Once per <audio> element: the page's own, or one swapped in when the recording became ready.
      var player = currentPlayer();
      if (!player || player.dataset.bound) return;
      player.dataset.bound = "1";
      turnsList.classList.add("seekable");
      player.addEventListener("timeupdate", function () {
        var ms = offsetOf(player) + player.currentTime * 1000, following = follow();
        highlight(turnAt(ms), following);
        if (following) loadLaterFor(ms);
      });
      var select = document.getElementById("recording-select");
      if (select) {
        select.addEventListener("change", function () {
          var option = select.options[select.selectedIndex];
          player.dataset.offsetMs = option.dataset.offsetMs || "0";
          player.src = select.value;
          player.load();
        });
      }
      if (startMs !== null) {
        var cue = function () {
          // A recording shorter than the transcript (a partial or capped file) cannot play this moment;
          // clamping to its end would move the highlight away from the hit.
          var at = (startMs - offsetOf(player)) / 1000;
          if (at >= 0 && at < player.duration) player.currentTime = at;
        };
        if (player.readyState >= 1) cue(); else player.addEventListener("loadedmetadata", cue, { once: true });
      }
    }
    turnsList.syncPlayer = bindPlayer;

    // ?t=<ms> from a search hit: highlight that moment and cue the player there.
    if (startMs !== null) {
      var startTurn = turnAt(startMs);
      highlight(startTurn, false);
      if (startTurn && !location.hash) startTurn.scrollIntoView({ block: "center" });
    }
    bindPlayer();

    refind = initFind(turnsList);
  }

  var keysBound = false;

  function bindKeys() {
    if (keysBound) return;
    keysBound = true;
    document.addEventListener("keydown", function (event) {
      if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
      var player = currentPlayer();
      if (!player) return;
      var focused = document.activeElement;
      if (focused && focused !== document.body && focused.closest && focused.closest(OWN_KEYS)) return;
      if (event.key === " " || event.key === "Spacebar") {
        event.preventDefault();  // not the page scroll
        if (event.repeat) return;
        if (player.paused) {
          var playing = player.play();
          if (playing && playing.catch) playing.catch(function () {});
        } else {
          player.pause();
        }
      } else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
        event.preventDefault();
        var step = (event.key === "ArrowLeft" ? -SEEK_STEP_MS : SEEK_STEP_MS) / 1000;
        var end = isFinite(player.duration) ? player.duration : Infinity;
        player.currentTime = Math.min(Math.max(player.currentTime + step, 0), end);
      }
    });
  }

  function initFind(turnsList) {
    var input = document.getElementById("find-input");
    var count = document.getElementById("find-count");
    if (!input) return function () {};
    // Texts we marked up, with their original (server-escaped) markup, so a new search can undo the last one.
    var marked = [];

    function reset() {
      marked.forEach(function (entry) { entry.el.innerHTML = entry.html; });
      marked = [];
      Array.prototype.forEach.call(turnsList.querySelectorAll(".find-miss, .find-hit"), function (turn) {
        turn.classList.remove("find-miss", "find-hit");
      });
    }

    function markMatches(element, needle) {
      // Walk text nodes and wrap matches in <mark>, building nodes so nothing is parsed as HTML.
      var walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
      var nodes = [], node, hits = 0;
      while ((node = walker.nextNode())) nodes.push(node);
      nodes.forEach(function (textNode) {
        var text = textNode.nodeValue, lower = text.toLowerCase(), from = 0, index;
        if (lower.indexOf(needle) === -1) return;
        var fragment = document.createDocumentFragment();
        while ((index = lower.indexOf(needle, from)) !== -1) {
          fragment.appendChild(document.createTextNode(text.slice(from, index)));
          var mark = document.createElement("mark");
          mark.className = "find";
          mark.textContent = text.slice(index, index + needle.length);
          fragment.appendChild(mark);
          from = index + needle.length;
          hits += 1;
        }
        fragment.appendChild(document.createTextNode(text.slice(from)));
        textNode.parentNode.replaceChild(fragment, textNode);
      });
      return hits;
    }

    function find(scroll) {
      reset();
      var needle = input.value.trim().toLowerCase();
      if (!needle) { count.textContent = ""; return; }
      var total = 0, first = null;
      Array.prototype.forEach.call(turnsList.querySelectorAll(".turn"), function (turn) {
        var el = turn.querySelector(".text");
        // A match split across word spans is not wrapped but still counts for its turn.
        var matched = el.textContent.toLowerCase().indexOf(needle) !== -1;
        var hits = 0;
        if (matched) {
          marked.push({ el: el, html: el.innerHTML });  // our own server-escaped markup
          hits = Math.max(markMatches(el, needle), 1);
        }
        turn.classList.add(hits ? "find-hit" : "find-miss");
        if (hits && !first) first = turn;
        total += hits;
      });
      var partial = turnsList.querySelector(".turns-more") ? " in the loaded turns" : "";
      count.textContent = total + (total === 1 ? " match" : " matches") + partial;
      if (first && scroll) first.scrollIntoView({ block: "center" });
    }

    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { find(true); }, 150);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { input.value = ""; reset(); count.textContent = ""; }
    });
    // Newly loaded turns join an active search without moving the page.
    return function () { if (input.value.trim()) find(false); };
  }

  // Keep shareable search URLs short: drop filters left at "Any" before htmx pushes the URL.
  document.addEventListener("htmx:configRequest", function (event) {
    var form = event.detail.elt.closest && event.detail.elt.closest(".search-form");
    if (!form || event.detail.verb !== "get") return;
    var params = event.detail.parameters;
    Array.from(new Set(params.keys ? Array.from(params.keys()) : Object.keys(params))).forEach(function (name) {
      if (params.get ? params.get(name) === "" : params[name] === "") {
        if (params.delete) params.delete(name); else delete params[name];
      }
    });
  });

  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSettle", init);
})();
