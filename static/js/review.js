// Transcript review page: seek on click, follow playback, ?t= deep links, find in transcript.
// Plain DOM code, no build step. Transcript text is only ever read via textContent.
(function () {
  "use strict";

  function init() {
    var turnsList = document.getElementById("turns");
    if (!turnsList || turnsList.dataset.ready) return;
    turnsList.dataset.ready = "1";

    var player = document.getElementById("player");
    var follow = document.getElementById("follow-playback");
    var turns = Array.prototype.slice.call(turnsList.querySelectorAll(".turn"));
    var starts = turns.map(function (el) { return Number(el.dataset.start); });
    var current = null;

    function turnAt(ms) {
      // Last turn that started at or before ms (turns are sorted by start).
      var lo = 0, hi = starts.length - 1, found = -1;
      while (lo <= hi) {
        var mid = (lo + hi) >> 1;
        if (starts[mid] <= ms) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
      }
      return found >= 0 ? turns[found] : null;
    }

    function highlight(turn, scroll) {
      if (turn === current) return;
      if (current) current.classList.remove("playing");
      current = turn;
      if (!turn) return;
      turn.classList.add("playing");
      if (scroll) turn.scrollIntoView({ block: "center", behavior: "smooth" });
    }

    function seek(ms) {
      highlight(turnAt(ms), false);
      if (!player) return;
      player.currentTime = ms / 1000;
      var playing = player.play();
      if (playing && playing.catch) playing.catch(function () { /* autoplay blocked: user presses play */ });
    }

    document.addEventListener("click", function (event) {
      var target = event.target.closest("[data-seek]");
      if (!target) return;
      var ms = Number(target.dataset.seek);
      if (target.tagName === "A") {
        var turn = turnAt(ms);
        if (turn) turn.scrollIntoView({ block: "center" });
        event.preventDefault();
      }
      seek(ms);
    });

    if (player) {
      player.addEventListener("timeupdate", function () {
        highlight(turnAt(player.currentTime * 1000), !follow || follow.checked);
      });
      var select = document.getElementById("recording-select");
      if (select) {
        select.addEventListener("change", function () { player.src = select.value; player.load(); });
      }
    }

    // ?t=<ms> from a search hit: highlight that moment and cue the player there.
    if (turnsList.dataset.startMs !== undefined) {
      var startMs = Number(turnsList.dataset.startMs);
      var startTurn = turnAt(startMs);
      highlight(startTurn, false);
      if (startTurn && !location.hash) startTurn.scrollIntoView({ block: "center" });
      if (player) {
        var cue = function () {
          // A recording shorter than the transcript (a partial or capped file) cannot play this moment;
          // clamping to its end would move the highlight away from the hit.
          if (startMs / 1000 < player.duration) player.currentTime = startMs / 1000;
        };
        if (player.readyState >= 1) cue(); else player.addEventListener("loadedmetadata", cue, { once: true });
      }
    }

    initFind(turns);
  }

  function initFind(turns) {
    var input = document.getElementById("find-input");
    var count = document.getElementById("find-count");
    if (!input) return;
    var texts = turns.map(function (turn) { return turn.querySelector(".text"); });
    var originals = texts.map(function (el) { return el.innerHTML; });  // our own server-escaped markup

    function reset() {
      texts.forEach(function (el, i) { el.innerHTML = originals[i]; });
      turns.forEach(function (turn) { turn.classList.remove("find-miss", "find-hit"); });
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

    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        reset();
        var needle = input.value.trim().toLowerCase();
        if (!needle) { count.textContent = ""; return; }
        var total = 0, first = null;
        texts.forEach(function (el, i) {
          // A match split across word spans is not wrapped but still counts for its turn.
          var matched = el.textContent.toLowerCase().indexOf(needle) !== -1;
          var hits = matched ? Math.max(markMatches(el, needle), 1) : 0;
          turns[i].classList.add(hits ? "find-hit" : "find-miss");
          if (hits && !first) first = turns[i];
          total += hits;
        });
        count.textContent = total + (total === 1 ? " match" : " matches");
        if (first) first.scrollIntoView({ block: "center" });
      }, 150);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { input.value = ""; reset(); count.textContent = ""; }
    });
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
