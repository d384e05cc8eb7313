// The auto-send page: turning auto-send on for an intent, or lowering its threshold, asks first,
// with what staff made of that intent's recent drafts and how many of them would have gone out
// unreviewed at the threshold typed. guard.js asks the form's data-confirm; this keeps it current.
(function () {
  "use strict";

  function percent(text) {
    var typed = text.trim();
    var number = typed.replace(/%$/, "").trim();
    if (!/^\d+(\.\d+)?$/.test(number)) return null;
    var value = parseFloat(number);
    return value >= 50 && value <= 100 ? value : null;  // else the server refuses it
  }

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  function question(form, typed) {
    var stored = form.dataset.stored ? parseFloat(form.dataset.stored) : null;
    if (typed === null || (stored !== null && typed >= stored)) return "";
    var drafts = form.dataset.drafts.trim() ? form.dataset.drafts.trim().split(" ") : [];
    var sent = drafts.map(function (d) { return d.split(":"); })
      .filter(function (d) { return parseFloat(d[0]) * 100 >= typed - 1e-9; });
    var edited = sent.filter(function (d) { return d[1] === "edited"; }).length;
    var rejected = sent.filter(function (d) { return d[1] === "rejected"; }).length;
    var where = (form.dataset.intentTitle || form.dataset.intent) + " in " + form.dataset.mailbox;
    var ask = stored === null
      ? "Turn on auto-send for " + where + " at " + typed + "%?"
      : "Lower auto-send for " + where + " from " + stored + "% to " + typed + "%?";
    var would = drafts.length
      ? "At " + typed + "%, " + sent.length + " of those " + plural(drafts.length, "draft") +
        " would have gone out unreviewed" +
        (sent.length ? ", " + edited + " of them edited by staff and " + rejected + " rejected." : ".")
      : "";
    return ask + " Drafts the classifier is at least that sure of go out without anyone reading them.\n\n" +
      form.dataset.summary + (would ? "\n\n" + would : "");
  }

  Array.prototype.forEach.call(document.querySelectorAll("form.auto-send-form"), function (form) {
    var field = form.elements.threshold;
    function update() {
      var asked = question(form, percent(field.value));
      if (asked) form.dataset.confirm = asked;
      else delete form.dataset.confirm;
    }
    field.addEventListener("input", update);
    update();
  });
})();
