// Keyboard work for the queue and review pages. Served as a file so the CSP can forbid inline script.
(function () {
  function click(id) {
    var el = document.getElementById(id);
    if (el) { el.click(); return true; }
    return false;
  }
  document.addEventListener("keydown", function (e) {
    var typing = e.target.matches("input, textarea, select");
    if (e.key === "Escape" && typing) { e.target.blur(); return; }
    if (typing) {
      var approve = document.getElementById("approve");  // none on the page writing a new message
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && e.target.id === "draft-body" && approve) {
        approve.requestSubmit(document.getElementById("approve-button"));
        e.preventDefault();
      }
      if (e.key === "Enter" && e.target.id === "snooze-until") {
        document.getElementById("snooze").requestSubmit(document.getElementById("snooze-button"));
        e.preventDefault();
      }
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var handled = false;
    if (e.key === "j") {
      // the review page's next draft, or the queue's: both pass over drafts a colleague has open
      handled = click("next");
    } else if (e.key === "k") {
      handled = click("prev");
    } else if (e.key === "a") {
      var form = document.getElementById("approve");
      if (form) { form.requestSubmit(document.getElementById("approve-button")); handled = true; }
    } else if (e.key === "e") {
      var text = document.getElementById("draft-body");
      if (text) { text.focus(); handled = true; }
    } else if (e.key === "r") {
      var reason = document.getElementById("reject-reason");
      if (reason) { reason.focus(); handled = true; }
    } else if (e.key === "i") {
      var box = document.getElementById("insert-snippet");
      if (box) { box.open = true; document.getElementById("snippet-search").focus(); handled = true; }
    } else if (e.key === "s") {
      var until = document.getElementById("snooze-until");
      if (until) { until.focus(); handled = true; }
    } else if (e.key === "z") {
      handled = click("undo-button");
    } else if (e.key === "u") {
      handled = click("queue-link");
    } else if (e.key === "/") {
      window.location.href = "/search";
      handled = true;
    } else if (e.key === "?") {
      var help = document.getElementById("shortcuts");
      if (help && !help.open) { help.showModal(); handled = true; }
    }
    if (handled) e.preventDefault();
  });
})();

// The shortcuts list for a mouse or a finger: the "?" hint is a button. Closed, the list gives the
// focus back to the button (a click does not focus a button in every browser).
(function () {
  var button = document.getElementById("shortcuts-button");
  var help = document.getElementById("shortcuts");
  if (!button || !help) return;
  button.addEventListener("click", function () {
    if (help.open) return;
    help.showModal();
    help.addEventListener("close", function () { button.focus(); }, { once: true });
  });
})();

// Insert an approved answer into the draft where the cursor was (at the end if the draft was
// never clicked). Results come from /messages/{id}/snippets (a new message to a customer:
// /customers/{id}/snippets); text is set, never parsed as HTML.
(function () {
  var box = document.getElementById("insert-snippet");
  var draft = document.getElementById("draft-body");
  if (!box || !draft) return;
  var input = document.getElementById("snippet-search");
  var list = document.getElementById("snippet-results");
  var status = document.getElementById("snippet-status");
  var touched = false, timer = null, asked = 0, items = [];
  draft.addEventListener("focus", function () { touched = true; });

  function insert(text) {
    var start = touched ? draft.selectionStart : draft.value.length;
    var end = touched ? draft.selectionEnd : start;
    var before = draft.value.slice(0, start), after = draft.value.slice(end);
    var lead = !before || /\n\n$/.test(before) ? "" : (/\n$/.test(before) ? "\n" : "\n\n");
    var tail = !after || /^\n/.test(after) ? "" : "\n\n";
    draft.focus();
    draft.setRangeText(lead + text + tail, start, end, "end");
    draft.dispatchEvent(new Event("input", { bubbles: true }));
    status.textContent = "Inserted. Read it through before you send.";
  }

  // An answer not for this customer (another tier or plan, out of its dates) has no text:
  // listed last with why, never inserted, by Enter or a click.
  function insertable(item) { return !item.error && !(item.not_for && item.not_for.length); }

  function show(data) {
    items = data.items;
    var usable = items.filter(insertable);
    list.replaceChildren();
    status.textContent = items.length ? "" : (data.query ? "No approved answer holds all of those words or means something close." : "No suggested answers: type words to search.");
    items.forEach(function (item) {
      var li = document.createElement("li");
      var head = document.createElement("strong");
      head.textContent = item.title;
      var meta = document.createElement("small");
      meta.textContent = " " + item.key + " v" + item.version + (item.suggested ? " · suggested" : "") + (item.related ? " · close in meaning" : "");
      var text = document.createElement("p");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "insert";
      if (item.error) {
        text.className = "error";
        text.textContent = "Cannot be inserted: " + item.error;
        button.disabled = true;
      } else if (!insertable(item)) {
        text.className = "warn";
        text.textContent = "Not for this customer: " + item.not_for.join(", ") + ".";
        button.disabled = true;
      } else {
        text.textContent = item.body.length > 280 ? item.body.slice(0, 280) + "…" : item.body;
      }
      button.textContent = item === usable[0] ? "Insert (Enter)" : "Insert";
      button.addEventListener("click", function () { insert(item.body); });
      li.append(head, meta, text, button);
      list.append(li);
    });
  }

  function load() {
    var n = ++asked;
    status.textContent = "Searching…";
    fetch(box.dataset.url + "?q=" + encodeURIComponent(input.value), {
      credentials: "same-origin", headers: { Accept: "application/json" },
    })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) { if (n === asked) show(data); })
      .catch(function () { if (n === asked) status.textContent = "Could not load the answers: try again."; });
  }

  box.addEventListener("toggle", function () { if (box.open) load(); });
  input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(load, 200); });
  input.addEventListener("keydown", function (e) {
    if (e.key !== "Enter") return;
    e.preventDefault();  // the box sits inside the approve form: Enter must never send
    var first = items.filter(insertable)[0];
    if (first) insert(first.body);
  });
})();

// The queue's "tick all on this page" box.
(function () {
  var all = document.getElementById("select-all");
  if (!all) return;
  all.addEventListener("change", function () {
    document.querySelectorAll('input[name="ids"]').forEach(function (box) { box.checked = all.checked; });
  });
})();

// "Copy text" buttons (data-copy names the box whose text is copied), e.g. a reply left unsent.
(function () {
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var box = document.getElementById(button.dataset.copy);
      var status = document.getElementById(button.id + "-status");
      if (!box) return;
      function said(text) { if (status) status.textContent = text; }
      function fallback() {
        box.focus();
        box.select();
        said(document.execCommand("copy") ? "Copied." : "Selected: press Ctrl+C to copy.");
      }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(box.value).then(function () { said("Copied."); }, fallback);
      } else {
        fallback();
      }
    });
  });
})();
