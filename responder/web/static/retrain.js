// Progress of a classifier retrain: polls its status until it is no longer running, then
// reloads the page, which shows the new model's metrics beside the active one's.
(function () {
  "use strict";
  var box = document.getElementById("retrain");
  if (!box) { return; }
  var bar = document.getElementById("retrain-progress");
  var percent = document.getElementById("retrain-percent");
  var stage = document.getElementById("retrain-stage");

  function poll() {
    fetch(box.dataset.statusUrl, { credentials: "same-origin", headers: { accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (job) {
        if (job.state !== "running") {
          window.location.assign(box.dataset.doneUrl);
          return;
        }
        bar.value = job.percent;
        percent.textContent = job.percent + "%";
        stage.textContent = job.stage;
        setTimeout(poll, 1000);
      })
      .catch(function (problem) {
        stage.textContent = "could not read progress (" + (problem.message || problem) + "); retrying";
        setTimeout(poll, 3000);
      });
  }
  setTimeout(poll, 500);
})();
