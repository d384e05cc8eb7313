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
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && e.target.id === "draft-body") {
        document.getElementById("approve").requestSubmit(document.getElementById("approve-button"));
        e.preventDefault();
      }
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var handled = false;
    if (e.key === "j") {
      handled = click("next");
      if (!handled) {
        var first = document.querySelector("a.open");
        if (first) { first.click(); handled = true; }
      }
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
    } else if (e.key === "u") {
      handled = click("queue-link");
    } else if (e.key === "/") {
      window.location.href = "/search";
      handled = true;
    }
    if (handled) e.preventDefault();
  });
})();
