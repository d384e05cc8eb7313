// Presence on the review page: while the tab is visible it tells the server every few seconds
// (the #presence region's data-every) that this person still has the draft open, and whether they
// have typed in it unsaved; it shows the answer, who else has it open, in the region. Leaving the
// page says so with a beacon. Every message names this drawing of the page (data-page), so leaving
// it takes away only this page, not the reload or the other tab that replaced it, whichever the
// server hears first. Without this script the page's own visit still counts, and lapses.
(function () {
  "use strict";
  var region = document.getElementById("presence");
  if (!region || !window.fetch || !window.URLSearchParams) { return; }
  var url = region.dataset.url;
  var every = (parseInt(region.dataset.every, 10) || 25) * 1000;
  var editor = document.getElementById("draft-body");
  var timer = null;
  var saidEditing = false;

  function editing() {  // as unsaved.js and the server compare a draft with what was typed
    if (!editor) { return false; }
    var plain = function (text) { return text.replace(/\r\n/g, "\n").trim(); };
    return plain(editor.value) !== plain(editor.defaultValue);
  }

  function form(left) {  // a form, not JSON: the beacon cannot send the CSRF header
    var data = new URLSearchParams();
    data.set("_csrf_token", region.dataset.csrf);
    data.set("page", region.dataset.page || "");
    data.set("editing", editing() ? "1" : "");
    if (left) { data.set("left", "1"); }
    return data;
  }

  function show(notice) {
    var shown = region.querySelector("p");
    if (!notice) {
      if (shown) { region.removeChild(shown); }
      return;
    }
    if (!shown) {
      shown = document.createElement("p");
      shown.className = "warn";
      region.appendChild(shown);
    }
    if (shown.textContent !== notice) { shown.textContent = notice; }
  }

  function beat() {
    saidEditing = editing();
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { accept: "application/json" },
      body: form(false)
    }).then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    }).then(function (answer) {
      show(answer.notice);
    }).catch(function () { /* signed out or offline: the notice stays as it was */ });
  }

  function keepBeating() {
    if (timer) { clearInterval(timer); }
    timer = document.visibilityState === "visible" ? setInterval(beat, every) : null;
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { beat(); }
    keepBeating();
  });
  if (editor) {
    // Others learn at once that this person started (or stopped) changing the draft.
    editor.addEventListener("input", function () { if (editing() !== saidEditing) { beat(); } });
  }
  // Also after a form sent from the page (save, a note, approve): the page it brings back is
  // another page view, recorded by its own id.
  window.addEventListener("pagehide", function () {
    if (timer) { clearInterval(timer); }
    if (navigator.sendBeacon) { navigator.sendBeacon(url, form(true)); }
  });
  window.addEventListener("pageshow", function (e) {
    if (e.persisted) { beat(); keepBeating(); }  // back from the browser's page cache
  });
  keepBeating();
})();
