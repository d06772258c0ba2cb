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
// - Moments: ?t=<ms> or #t=<seconds> opens the page at a turn (highlighted, the player cued there); every turn has
//   "Copy link" (the clipboard, or a read-only field with the link when the clipboard is refused) and, for
//   reviewers, "Note" (fills the note form's moment); a note's "at m:ss" goes back to its moment.
// - Keys (outside form fields; the <dialog id="keys-help"> lists them, "?" opens it): Space, arrows, j/k next or
//   previous turn, n a note at the current moment, r the one-step "Mark reviewed".
// - Absolute times arrive as <time datetime data-local> in UTC and are shown in the viewer's time zone, named.
// Plain DOM code, no build step. Transcript text is only ever read via textContent.
(function () {
  "use strict";

  var SEEK_STEP_MS = 5000;
  // While typing, letters are text: j/k/n/r/? stay out of these (a button keeps Space and Enter, not letters).
  var TYPING = "input, textarea, select, [contenteditable], [role=textbox], [role=combobox], [role=spinbutton]";
  var LOCAL_FORMATS = {
    datetime: { weekday: "short", day: "numeric", month: "short", year: "numeric",
      hour: "2-digit", minute: "2-digit", second: "2-digit" },
    time: { hour: "2-digit", minute: "2-digit", second: "2-digit" },
    short: { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" }
  };
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

  function mmss(ms) {
    // As the server's mmss filter: m:ss from the call's start, h:mm:ss past an hour.
    var total = Math.max(Math.floor(ms / 1000), 0);
    var h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), sec = total % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return h ? h + ":" + pad(m) + ":" + pad(sec) : pad(m) + ":" + pad(sec);
  }

  function localTimes(root) {
    // <time datetime="...Z" data-local="datetime|time|short">... UTC</time> -> the viewer's zone, named.
    if (!window.Intl || !Intl.DateTimeFormat) return;
    Array.prototype.forEach.call((root || document).querySelectorAll("time[data-local]"), function (el) {
      if (el.dataset.localised) return;
      var instant = new Date(el.getAttribute("datetime"));
      if (isNaN(instant.getTime())) return;
      var options = Object.assign({ timeZoneName: "short" }, LOCAL_FORMATS[el.dataset.local] || LOCAL_FORMATS.datetime);
      try {
        var text = new Intl.DateTimeFormat(undefined, options).format(instant);
      } catch (error) {
        return;  // an engine without these options keeps the UTC text
      }
      el.title = el.textContent;  // the UTC original, on hover
      el.textContent = text;
      el.dataset.localised = "1";
    });
  }

  function hashMoment() {
    // #t=83 or #t=83.5 (seconds, as media fragments write it) -> ms; null otherwise.
    var match = /^#t=(\d+(?:\.\d+)?)$/.exec(location.hash);
    return match ? Math.round(Number(match[1]) * 1000) : null;
  }

  function init() {
    bindKeys();
    localTimes(document);
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

    function markMoment(turn) {
      // The turn a link or a note points at keeps a mark of its own (playing moves on, this stays).
      Array.prototype.forEach.call(turnsList.querySelectorAll(".turn.moment"), function (el) {
        el.classList.remove("moment");
      });
      if (turn) turn.classList.add("moment");
    }

    function cue(ms) {
      // Set the player's position without starting it (a link or a note, not a "play from here").
      var player = currentPlayer();
      if (!player) return;
      var at = (ms - offsetOf(player)) / 1000;
      var set = function () { if (at >= 0 && (!isFinite(player.duration) || at < player.duration)) player.currentTime = at; };
      if (player.readyState >= 1) set(); else player.addEventListener("loadedmetadata", set, { once: true });
    }

    function goTo(ms) {
      // A moment on this page: scroll to its turn, highlight it, cue the player. False when it is not loaded.
      var turn = turnAt(ms);
      if (!turn) return false;
      markMoment(turn);
      highlight(turn, false);
      turn.scrollIntoView({ block: "center", behavior: scrollBehavior() });
      cue(ms);
      return true;
    }

    function step(delta) {
      // j/k: the next or previous loaded turn after the one highlighted (or the first one).
      if (!turns.length) return;
      var index = current ? turns.indexOf(current) : -1;
      var next = index < 0 ? 0 : Math.min(Math.max(index + delta, 0), turns.length - 1);
      var turn = turns[next];
      highlight(turn, false);
      turn.scrollIntoView({ block: "nearest", behavior: scrollBehavior() });
      cue(Number(turn.dataset.start));
    }

    function currentMoment() {
      // Where "n" pins a note: the player's position, else the highlighted turn, else none.
      var player = currentPlayer();
      if (player && (player.currentTime > 0 || !player.paused)) return offsetOf(player) + player.currentTime * 1000;
      return current ? Number(current.dataset.start) : null;
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
      var moment = event.target.closest("[data-moment]");
      if (moment) {
        // A note's moment: on this page, go there; otherwise the link loads the part of the call holding it.
        if (goTo(Number(moment.dataset.moment))) event.preventDefault();
        return;
      }
      var copy = event.target.closest("[data-copy-link]");
      if (copy) {
        event.preventDefault();
        copyLink(copy);
        return;
      }
      var noteAt = event.target.closest("[data-note-at]");
      if (noteAt) {
        var turn = noteAt.closest(".turn");
        if (turn) { markMoment(turn); highlight(turn, false); }
        startNote(Number(noteAt.dataset.noteAt));
        return;
      }
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
    var fromHash = startMs === null ? hashMoment() : null;
    if (fromHash !== null) {
      if (!turnAt(fromHash) && turnsList.querySelector(".turns-more")) {
        // Not in the loaded window: the server picks the part of the call from ?t=.
        location.replace(location.pathname + "?t=" + fromHash);
        return;
      }
      startMs = fromHash;
    }

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

    // ?t=<ms> from a search hit or a copied link (or #t=<s>): highlight that moment and cue the player there.
    if (startMs !== null) {
      var startTurn = turnAt(startMs);
      highlight(startTurn, false);
      markMoment(startTurn);
      if (startTurn && (!location.hash || fromHash !== null)) startTurn.scrollIntoView({ block: "center" });
    }
    bindPlayer();
    window.addEventListener("hashchange", function () {
      var ms = hashMoment();
      if (ms !== null && !goTo(ms)) location.replace(location.pathname + "?t=" + ms);
    });
    turnsList.review = { step: step, currentMoment: currentMoment, markMoment: markMoment };

    refind = initFind(turnsList);
  }

  function copyLink(link) {
    // The absolute link to a turn's moment: to the clipboard, or shown selected in a read-only field to copy.
    var url = new URL(link.getAttribute("href"), location.href).href;
    var status = document.getElementById("copy-status");
    var say = function (text) { if (status) status.textContent = text; };
    var fallback = function () {
      var field = link.parentNode.querySelector("input.copy-fallback");
      if (!field) {
        field = document.createElement("input");
        field.type = "text";
        field.readOnly = true;
        field.className = "copy-fallback";
        field.setAttribute("aria-label", "Link to this moment");
        link.parentNode.appendChild(field);
      }
      field.value = url;
      field.focus();
      field.select();
      say("Copy the link from the field next to the turn.");
    };
    if (!navigator.clipboard || !navigator.clipboard.writeText) { fallback(); return; }
    navigator.clipboard.writeText(url).then(function () {
      say("Link to " + mmss(new URL(url).searchParams.get("t")) + " copied.");
    }, fallback);
  }

  function noteField() {
    return document.querySelector("#review-form #id_note");  // the review page's, not another form's "note"
  }

  function startNote(ms) {
    // The note form, its moment filled (blank: a note about the whole call), the note field focused.
    var note = noteField();
    var at = document.querySelector("#review-form #id_at");
    if (!note) return;
    if (at) at.value = ms === null || ms === undefined || isNaN(ms) ? "" : mmss(ms);
    note.focus();
  }

  function openHelp() {
    var dialog = document.getElementById("keys-help");
    if (!dialog || dialog.open) return;
    if (dialog.showModal) dialog.showModal(); else dialog.setAttribute("open", "");
  }

  var keysBound = false;

  function bindKeys() {
    if (keysBound) return;
    keysBound = true;
    document.addEventListener("click", function (event) {
      if (event.target.closest("#keys-help-open")) openHelp();
    });
    document.addEventListener("keydown", function (event) {
      if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
      var focused = document.activeElement;
      var inside = function (selector) {
        return focused && focused !== document.body && focused.closest && focused.closest(selector);
      };
      if (inside("dialog[open]") || inside(TYPING)) return;  // the dialog's own keys (Esc closes it); typing
      var list = document.getElementById("turns");
      var page = list && list.review;
      if (event.key === "?") {
        if (!document.getElementById("keys-help")) return;  // another page: "?" is nothing to us
        event.preventDefault();
        openHelp();
        return;
      }
      if (event.shiftKey) return;
      var letter = event.key.length === 1 ? event.key.toLowerCase() : "";
      if (letter === "j" || letter === "k") {
        if (!page) return;
        event.preventDefault();
        page.step(letter === "j" ? 1 : -1);
        return;
      }
      if (letter === "n") {
        if (!noteField()) return;
        event.preventDefault();  // not an "n" typed into the note
        var ms = page ? page.currentMoment() : null;
        startNote(ms === null ? null : ms);
        return;
      }
      if (letter === "r") {
        var mark = document.getElementById("mark-reviewed");
        if (!mark) return;
        event.preventDefault();
        mark.click();
        return;
      }
      var player = currentPlayer();
      if (!player) return;
      if (inside(OWN_KEYS)) return;
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
  document.addEventListener("htmx:afterSettle", init);  // also re-localises the times of a swapped review panel
})();
