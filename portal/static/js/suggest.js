// Progressive enhancement for the question, complaint and idea forms: while the citizen
// types the subject (or the idea's title: the panel's data-source), show published
// answers and ideas that may already help. Without JavaScript the "Check ..." button
// does the same with a page load.
(function () {
  "use strict";
  var panel = document.getElementById("suggestions");
  var subject = panel && document.getElementById(panel.getAttribute("data-source") || "subject");
  if (!subject || !panel || !window.fetch) { return; }
  var timer = null;
  var last = "";
  function lookUp() {
    var text = subject.value.trim();
    if (text.length < 3 || text === last) { return; }
    last = text;
    var base = panel.getAttribute("data-url");
    var url = base + (base.indexOf("?") === -1 ? "?" : "&") + "q=" + encodeURIComponent(text) +
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
