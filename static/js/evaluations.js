// Evaluation panel (templates/reviews/_evaluation_panel.html): on a page with the call's player and transcript,
// "Go to moment" seeks there instead of reloading; elsewhere the link opens the review page at that moment.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a.evaluation-moment[data-seek-ms]");
    if (!link) return;
    var turn = link.hash ? document.getElementById(link.hash.slice(1)) : null;
    if (!turn) return; // not on the review page: follow the link
    event.preventDefault();
    var audio = document.getElementById("player");
    var ms = parseInt(link.getAttribute("data-seek-ms"), 10);
    if (audio && !isNaN(ms)) {
      var offset = parseInt(audio.getAttribute("data-offset-ms") || "0", 10) || 0;
      audio.currentTime = Math.max(ms - offset, 0) / 1000;
    }
    turn.scrollIntoView({ block: "center" });
    turn.focus({ preventScroll: true });
  });
})();
