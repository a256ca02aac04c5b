/* Nothing here fetches or draws anything: this only records script errors and blocked loads
   on the page element (data-page-errors), where a test or a curious reader can see them. */
(function () {
  var errors = [], root = document.documentElement;
  function note(message) {
    errors.push(String(message));
    root.setAttribute("data-page-errors", JSON.stringify(errors));
  }
  window.addEventListener("error", function (e) {
    var target = e.target && (e.target.src || e.target.href);
    note(e.message || ("could not load " + (target || "a resource")));
  }, true);
  window.addEventListener("unhandledrejection", function (e) { note(e.reason); });
  document.addEventListener("securitypolicyviolation", function (e) {
    note("blocked " + e.blockedURI + " (" + e.violatedDirective + ")");
  });
  window.addEventListener("load", function () { root.setAttribute("data-page-loaded", "1"); });
})();
