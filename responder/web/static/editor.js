// Live preview for the template and snippet editor, and the new-snippet and new-template forms:
// renders on the server (the form's data-preview-url) as you type. The form's inputs marked
// data-preview-field (a new snippet's key, a snippet's language, a new template's intent) go
// along by name.
(function () {
  "use strict";
  var form = document.querySelector("form[data-preview-url]");
  if (!form) { return; }
  var body = document.getElementById("body");
  var message = document.getElementById("preview-message");
  var customer = document.getElementById("preview-customer");
  var output = document.getElementById("preview");
  var error = document.getElementById("preview-error");
  var state = document.getElementById("preview-state");
  var fields = form.querySelectorAll("[data-preview-field]");
  var timer = null;
  var sequence = 0;

  function number(select) {
    return select && select.value ? parseInt(select.value, 10) : null;
  }

  function show(result) {
    output.textContent = result.text || "";
    error.textContent = result.error || "";
    error.hidden = !result.error;
    state.textContent = "";
    form.dataset.previewed = String(sequence);
  }

  function request() {
    var data = { body: body.value, message_id: number(message), customer_id: number(customer) };
    fields.forEach(function (field) { data[field.name] = field.value; });
    return data;
  }

  function refresh() {
    var mine = ++sequence;
    state.textContent = "rendering…";
    fetch(form.dataset.previewUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrftoken": form.dataset.csrf },
      body: JSON.stringify(request())
    }).then(function (response) {
      if (!response.ok) { throw new Error("preview failed: HTTP " + response.status); }
      return response.json();
    }).then(function (result) {
      if (mine === sequence) { show(result); }
    }).catch(function (problem) {
      if (mine === sequence) { show({ text: "", error: String(problem.message || problem) }); }
    });
  }

  function later() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(refresh, 300);
  }

  body.addEventListener("input", later);
  fields.forEach(function (field) { field.addEventListener("input", later); });
  if (message) { message.addEventListener("change", refresh); }
  if (customer) { customer.addEventListener("change", refresh); }
})();
