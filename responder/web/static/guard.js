// Forms that guard a person's work, on every page. Served as a file so the CSP can forbid inline
// script.
(function () {
  "use strict";

  // A form that asks before it acts (the Spam button blocks a sender, Deactivate signs a colleague
  // out): the question is the data-confirm of the button pressed or of the form; declined,
  // nothing is sent.
  document.addEventListener("submit", function (e) {
    var asker = e.submitter && e.submitter.dataset.confirm ? e.submitter : e.target;
    var question = asker.dataset ? asker.dataset.confirm : "";
    if (question && !window.confirm(question)) e.preventDefault();
  });

  // A form marked data-guard-leave (a template, a snippet, the rules) makes the browser ask
  // before the page is left with its fields changed and not saved; "unsaved" marks text a
  // refused save put back on the page, which is not saved even though nothing changed since.
  // Fields marked data-guard-skip (which message the preview uses) are not edits.
  var forms = Array.prototype.slice.call(document.querySelectorAll("form[data-guard-leave]"));
  if (!forms.length) return;

  function snapshot(form) {
    return Array.prototype.map.call(form.elements, function (field) {
      if (!field.name || field.type === "hidden" || field.type === "file") return "";
      if (field.dataset.guardSkip !== undefined) return "";
      if (field.type === "checkbox" || field.type === "radio") return field.checked ? "1" : "0";
      return field.value;
    }).join("\u0000");
  }

  var initial = forms.map(snapshot);
  var saving = null;
  document.addEventListener("submit", function (e) {
    if (!e.defaultPrevented) saving = e.target;
  });
  window.addEventListener("beforeunload", function (e) {
    var unsaved = forms.some(function (form, i) {
      if (form === saving) return false;
      return form.dataset.guardLeave === "unsaved" || snapshot(form) !== initial[i];
    });
    if (unsaved) {
      e.preventDefault();
      e.returnValue = "";
    }
  });
})();
