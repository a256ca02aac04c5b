/* The sample table: a click on a column's heading sorts every provider's rows by it (again:
   the other way round); the selects above keep only the rows that match. Reads and moves the
   page's own rows; fetches nothing. Each row carries what it is sorted and filtered by in
   data-* attributes (data-verdict, data-findings, ...); a select names its attribute in
   data-filter, a heading in data-sort ("num": compared as numbers). */
(function () {
  "use strict";
  var section = document.getElementById("sample");
  if (!section) { return; }
  var each = Array.prototype.forEach;
  var groups = section.querySelectorAll(".provider-sample");
  var selects = section.querySelectorAll("select[data-filter]");
  var headings = section.querySelectorAll("th[data-sort]");
  var status = document.getElementById("sample-status");
  var current = { key: "", descending: false };

  function rowsOf(table) { return Array.prototype.slice.call(table.tBodies[0].rows); }

  function matches(row) {
    for (var i = 0; i < selects.length; i++) {
      var wanted = selects[i].value;
      var have = " " + (row.getAttribute("data-" + selects[i].getAttribute("data-filter")) || "") + " ";
      if (wanted && have.indexOf(" " + wanted + " ") < 0) { return false; }
    }
    return true;
  }

  function filter() {
    var shown = 0, total = 0;
    each.call(groups, function (group) {
      var visible = 0;
      each.call(group.querySelectorAll("tr.sample-row"), function (row) {
        var keep = matches(row);
        row.hidden = !keep;
        total += 1;
        if (keep) { visible += 1; }
      });
      group.hidden = visible === 0;
      shown += visible;
    });
    section.setAttribute("data-shown", String(shown));
    status.textContent = shown === total ? "All " + total + " claims shown."
      : shown + " of " + total + " claims shown.";
  }

  function sort(key, numeric, descending) {
    current = { key: key, descending: descending };
    function value(row) {
      var v = row.getAttribute("data-" + key) || "";
      return numeric ? parseFloat(v) || 0 : v.toLowerCase();
    }
    function order(row) { return parseInt(row.getAttribute("data-order"), 10); }
    each.call(section.querySelectorAll("table.sample"), function (table) {
      var body = table.tBodies[0];
      rowsOf(table).sort(function (a, b) {
        var x = value(a), y = value(b);
        var by = x < y ? -1 : x > y ? 1 : 0;
        return (descending ? -by : by) || order(a) - order(b);
      }).forEach(function (row) { body.appendChild(row); });
    });
    each.call(headings, function (th) {
      th.setAttribute("aria-sort", th.getAttribute("data-sort") !== key ? "none"
        : descending ? "descending" : "ascending");
    });
    section.setAttribute("data-sorted", key + (descending ? " descending" : " ascending"));
  }

  each.call(headings, function (th) {
    var button = th.querySelector("button");
    button.addEventListener("click", function () {
      var key = th.getAttribute("data-sort");
      var again = current.key === key;
      sort(key, th.getAttribute("data-sort-type") === "num",
           again ? !current.descending : th.getAttribute("data-first") === "descending");
    });
  });
  each.call(selects, function (select) { select.addEventListener("change", filter); });
  var reset = document.getElementById("sample-reset");
  reset.addEventListener("click", function () {
    each.call(selects, function (select) { select.value = ""; });
    sort("order", true, false);
    filter();
  });
  section.querySelector(".sample-controls").hidden = false;  // without the script: no controls
  filter();
})();
