// Fidelis admin console: the only script. Disables a form's button once it is submitted, so an
// impatient double click sends one request (the server applies a repeated ChangeKey once anyway).
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form.method.toLowerCase() !== "post") return;
  window.setTimeout(function () {
    form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
  }, 0);
});
