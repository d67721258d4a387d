// The cluster filter: every word must appear in a row (name, environment, class, site,
// labels, packages). The URL's #q=... fills it, so a filtered view can be shared.
(function () {
  var box = document.getElementById("filter");
  if (!box) { return; }
  var rows = Array.prototype.slice.call(document.querySelectorAll("#cluster-table tbody tr"));
  var shown = document.getElementById("shown");
  function apply() {
    var words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
    var count = 0;
    rows.forEach(function (row) {
      var text = row.getAttribute("data-search").toLowerCase();
      var match = words.every(function (w) { return text.indexOf(w) !== -1; });
      row.hidden = !match;
      if (match) { count += 1; }
    });
    shown.textContent = words.length ? count + " of " + rows.length + " shown" : "";
  }
  var m = /[#&]q=([^&]*)/.exec(window.location.hash);
  if (m) { box.value = decodeURIComponent(m[1].replace(/\+/g, " ")); }
  box.addEventListener("input", apply);
  apply();
}());
