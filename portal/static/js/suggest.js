// Progressive enhancement for the question and complaint forms: while the citizen types
// the subject, show published answers that may already help. Without JavaScript the
// "Check for existing answers" button does the same with a page load.
(function () {
  "use strict";
  var subject = document.getElementById("subject");
  var panel = document.getElementById("suggestions");
  if (!subject || !panel || !window.fetch) { return; }
  var timer = null;
  var last = "";
  function lookUp() {
    var text = subject.value.trim();
    if (text.length < 3 || text === last) { return; }
    last = text;
    var url = panel.getAttribute("data-url") + "?q=" + encodeURIComponent(text) +
      "&token=" + encodeURIComponent(panel.getAttribute("data-token") || "") +
      "&lang=" + encodeURIComponent(document.documentElement.lang);
    fetch(url, {credentials: "same-origin"}).then(function (response) {
      return response.ok ? response.text() : "";
    }).then(function (html) {
      // The fragment is rendered by our own server with autoescaping.
      panel.innerHTML = html;
      panel.hidden = html.trim() === "";
    }).catch(function () { /* suggestions are a help, never a requirement */ });
  }
  subject.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(lookUp, 350);
  });
}());
