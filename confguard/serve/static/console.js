// Keyboard shortcuts for the case page; a static file, so the CSP allows it.
document.addEventListener("keydown", function (event) {
  var tag = (event.target && event.target.tagName) || "";
  if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  var click = function (id) {
    var el = document.getElementById(id);
    if (el) { event.preventDefault(); el.click(); }
  };
  if (event.key === "a") click("approve");
  else if (event.key === "r") click("reject");
  else if (event.key === "e") {
    var box = document.getElementById("edited-answer");
    if (box) { event.preventDefault(); box.focus(); }
  } else if (event.key === "n") {
    var form = document.getElementById("next-form");
    if (form) { event.preventDefault(); form.submit(); }
  } else if (event.key === "q") click("nav-queue");
});
