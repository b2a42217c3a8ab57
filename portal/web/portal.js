// Keycard guest portal: the page works without this; it only adds the
// copy buttons. Served from the portal itself (Content-Security-Policy
// script-src 'self').
"use strict";
document.querySelectorAll("button[data-copy]").forEach(function (b) {
  var field = document.getElementById(b.getAttribute("data-copy"));
  if (!field || !navigator.clipboard) return;
  b.hidden = false;
  b.addEventListener("click", function () {
    navigator.clipboard.writeText(field.value || field.textContent).then(function () {
      b.textContent = "\u2713";
    });
  });
});
document.querySelectorAll("input[readonly]").forEach(function (f) {
  f.addEventListener("focus", function () { f.select(); });
});
