// The queue page asks every little while (the #queue-changes region's data-every seconds), while
// its tab is visible, how many drafts wait in its view and how many came in since it was drawn.
// It keeps the count in the heading and the tab's title, and says "2 new drafts came in" with a
// link that shows them. It never reloads by itself: the agent may be ticking rows.
(function () {
  "use strict";
  var region = document.getElementById("queue-changes");
  if (!region || !window.fetch) { return; }
  var every = parseInt(region.dataset.every, 10) * 1000;
  if (!(every > 0)) { return; }
  var timer = null;

  function show(answer) {
    var total = document.getElementById("total");
    if (total && typeof answer.total === "number") {
      total.textContent = String(answer.total);
      document.title = document.title.replace(/^Queue \(\d+\)/, "Queue (" + answer.total + ")");
    }
    var shown = region.querySelector("p");
    if (!(answer.new > 0)) {
      if (shown) { region.removeChild(shown); }
      return;
    }
    var words = answer.new === 1 ? "1 new draft came in." : answer.new + " new drafts came in.";
    if (shown && shown.dataset.new === String(answer.new)) { return; }
    if (!shown) {
      shown = document.createElement("p");
      shown.className = "notice";
      region.appendChild(shown);
    }
    shown.dataset.new = String(answer.new);
    shown.textContent = words + " ";
    var link = document.createElement("a");
    link.href = region.dataset.show;
    link.id = "show-new";
    link.textContent = "Show them";
    shown.appendChild(link);
  }

  function ask() {
    fetch(region.dataset.url, {
      credentials: "same-origin",
      headers: { accept: "application/json" }
    }).then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    }).then(show).catch(function () { /* signed out or offline: the page stays as it was */ });
  }

  function schedule() {
    window.clearInterval(timer);
    timer = null;
    if (document.visibilityState === "hidden") { return; }
    timer = window.setInterval(ask, every);
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { ask(); }
    schedule();
  });
  schedule();
}());
