/* Search for the released site, all local: Pagefind's UI when its bundle is there, otherwise a
   small index (search/index.json) matched in the browser. Results are set as text, never as HTML. */
(function () {
  "use strict";
  var box = document.getElementById("search");
  if (!box) { return; }
  var root = box.getAttribute("data-root") || "";
  if (box.getAttribute("data-kind") === "pagefind" && window.PagefindUI) {
    box.textContent = "";
    new window.PagefindUI({ element: "#search", baseUrl: box.getAttribute("data-base") || "/", showImages: false, showSubResults: false });
    return;
  }
  var form = box.querySelector("form"), input = box.querySelector("input"), list = document.getElementById("search-results");
  var entries = null;
  function words(text) { return text.toLowerCase().split(/\s+/).filter(function (w) { return w.length > 0; }); }
  function show(query) {
    var terms = words(query);
    list.textContent = "";
    if (!terms.length) { return; }
    var hits = entries.filter(function (e) {
      var hay = e.h;
      return terms.every(function (t) { return hay.indexOf(t) !== -1; });
    }).slice(0, 50);
    var status = document.createElement("li");
    status.textContent = hits.length ? hits.length + (hits.length === 50 ? "+" : "") + " found" : "Nothing found";
    list.appendChild(status);
    hits.forEach(function (e) {
      var li = document.createElement("li"), a = document.createElement("a"), meta = document.createElement("span");
      a.href = root + e.u; a.textContent = e.t;
      meta.className = "meta"; meta.textContent = " · " + e.m;
      li.appendChild(a); li.appendChild(meta); list.appendChild(li);
    });
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (entries) { show(input.value); return; }
    fetch(root + "search/index.json").then(function (r) { return r.json(); }).then(function (data) {
      entries = data.map(function (e) { e.h = (e.t + " " + e.m + " " + e.k).toLowerCase(); return e; });
      show(input.value);
    });
  });
}());
