// Progressive enhancement for the staff case page: insert a saved reply into the
// reply box without reloading. Without JavaScript the form reloads the page instead.
(function () {
  "use strict";
  var form = document.querySelector("form[data-canned]");
  var box = document.getElementById("body");
  if (!form || !box) { return; }
  form.addEventListener("submit", function (event) {
    var option = form.querySelector("select option:checked");
    if (!option) { return; }
    event.preventDefault();
    var text = option.getAttribute("data-text") || "";
    var start = box.selectionStart || 0;
    var end = box.selectionEnd || 0;
    box.value = box.value.slice(0, start) + text + box.value.slice(end);
    box.focus();
    box.setSelectionRange(start + text.length, start + text.length);
  });
}());
