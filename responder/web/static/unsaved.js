// Typing in a draft reply is kept in this browser until the draft is saved, approved or rejected,
// so a session that ended under the agent (the form goes to the sign-in page, which brings them
// back here) or a tab that closed does not lose it. It is offered back, never put back unasked.
// Kept per person and per draft version: "responder.unsaved:<user>:<message>:<draft>:<version>".
// Typing kept for an earlier version (the draft was written again meanwhile: a correction, a
// suggested action, Redraft, a customer linked, or a colleague's save) moves to the version
// shown and is offered as typed before the draft changed: it is never dropped silently.
(function () {
  "use strict";
  var PREFIX = "responder.unsaved:";
  var SENT = "responder.unsaved.sent";  // the key whose draft was just sent in a form, this tab
  var MAX_AGE = 30 * 24 * 3600 * 1000;  // typing nobody came back for in a month is let go
  var store, tab;
  try {
    store = window.localStorage;
    tab = window.sessionStorage;
    store.getItem(PREFIX);
  } catch (e) {
    return;  // storage refused (a locked-down profile): the page works as before
  }

  function read(key) {
    try { return JSON.parse(store.getItem(key)); } catch (e) { return null; }
  }
  function forget(key) {
    try { store.removeItem(key); } catch (e) { /* nothing kept to forget */ }
  }
  function write(key, kept) {
    try {
      store.setItem(key, JSON.stringify(kept));
    } catch (e) { /* storage full: the typing is only on the page */ }
  }
  function keysFrom(prefix) {
    var found = [];
    for (var i = 0; i < store.length; i++) {
      var key = store.key(i);
      if (key && key.indexOf(prefix) === 0) { found.push(key); }
    }
    return found;
  }
  function same(a, b) {  // as the server compares a save with the draft it has
    return a.replace(/\r\n/g, "\n").trim() === b.replace(/\r\n/g, "\n").trim();
  }

  var sent = tab.getItem(SENT);
  tab.removeItem(SENT);
  var review = document.getElementById("review");
  if (!review) {
    // The queue after the last draft was handled says the form was done ("done"); the sign-in
    // or an error page says it was not ("kept"), and the typing waits for the draft's page.
    var script = document.currentScript;
    if (sent && script && script.dataset.sent === "done") { forget(sent); }
    return;
  }

  var base = PREFIX + review.dataset.unsavedFor + ":";
  var key = review.dataset.unsavedDraft ? base + review.dataset.unsavedDraft : null;
  var now = Date.now();
  keysFrom(PREFIX).forEach(function (k) {
    var kept = read(k);
    if (!kept || typeof kept.text !== "string" || !(kept.at > now - MAX_AGE)) { forget(k); }
  });
  // Another version of this draft is shown (written again or saved since, by this person or
  // someone else): the newest typing kept for an earlier one moves to it, said to be typed before
  // the draft changed, unless typing is kept for this version already. No version (the draft is
  // no longer in review): none of it applies any more.
  var earlier = null;
  keysFrom(base).forEach(function (k) {
    if (k === key) { return; }
    var typed = read(k);
    if (typed && (!earlier || typed.at > earlier.at)) { earlier = typed; }
    forget(k);
  });
  if (key && earlier && !read(key)) {
    write(key, { text: earlier.text, at: earlier.at, changed: true });
  }
  // A form sent from another draft's page brought this page: it was done (approved or rejected,
  // and the next draft opened); a refusal comes back to the draft's own page.
  if (sent && sent.indexOf(base) !== 0) { forget(sent); }

  var editor = document.getElementById("draft-body");
  if (!key || !editor) { return; }
  var kept = read(key);
  if (kept && same(kept.text, editor.value)) {  // saved as typed, or typed back to the draft
    forget(key);
    kept = null;
  }

  function keep() {
    if (same(editor.value, editor.defaultValue)) { forget(key); return; }
    write(key, { text: editor.value, at: Date.now() });
  }
  editor.addEventListener("input", keep);
  ["approve", "reject"].forEach(function (id) {
    var form = document.getElementById(id);
    if (form) { form.addEventListener("submit", function () { tab.setItem(SENT, key); }); }
  });

  // A refused save shows the text sent above the editor already (#unsaved-body): not offered
  // twice; it stays kept for the draft's page when it is next opened.
  var shown = document.getElementById("unsaved-body");
  if (!kept || (shown && same(kept.text, shown.value))) { return; }
  var notice = document.getElementById("unsaved-kept");
  var restore = document.getElementById("unsaved-restore");
  notice.querySelectorAll(".unsaved-when").forEach(function (span) {
    span.textContent = when(kept.at, review.dataset.zone);
  });
  if (kept.changed) {  // typed before the draft changed: said so
    document.getElementById("unsaved-same").hidden = true;
    document.getElementById("unsaved-changed").hidden = false;
    restore.textContent = restore.dataset.changed;
  }
  notice.hidden = false;
  restore.addEventListener("click", function () {
    editor.value = kept.text;
    notice.hidden = true;
    keep();
    editor.focus();
  });
  document.getElementById("unsaved-discard").addEventListener("click", function () {
    forget(key);
    notice.hidden = true;
  });

  function when(at, zone) {  // as the pages show times: 2026-12-03 14:05 Europe/Dublin
    var options = {
      year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    };
    var parts = {};
    try {
      if (zone) { options.timeZone = zone; }
      new Intl.DateTimeFormat("en-GB", options).formatToParts(new Date(at)).forEach(
        function (p) { parts[p.type] = p.value; });
    } catch (e) {
      return new Date(at).toLocaleString();
    }
    return parts.year + "-" + parts.month + "-" + parts.day + " " + parts.hour + ":" +
      parts.minute + (zone ? " " + zone : "");
  }
})();
