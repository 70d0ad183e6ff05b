// Search from a book opened as files (file://). The search index is a script and loads there,
// but Sphinx fetches each result's page to show a snippet of it, and a browser refuses fetch()
// on file:// URLs (one console error per result). There, results are listed without snippets,
// and the results page says how to get them: serve the book (`make serve`).
(function () {
  if (window.location.protocol !== "file:") return;
  // documentation_options.js declares it with `const`: a global, but not a window property
  function noSnippets() {
    if (typeof DOCUMENTATION_OPTIONS !== "undefined") DOCUMENTATION_OPTIONS.SHOW_SEARCH_SUMMARY = false;
  }
  noSnippets();
  function note() {
    noSnippets();
    var results = document.getElementById("search-results");
    if (!results || document.getElementById("dlparts-search-offline")) return;
    var p = document.createElement("p");
    p.id = "dlparts-search-offline";
    p.className = "dlparts-search-offline";
    p.textContent =
      "This book is open from files, so results are listed without a snippet of each page. " +
      "For snippets, serve it: `make serve`, then open http://localhost:8000/search.html.";
    results.parentNode.insertBefore(p, results);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", note);
  else note();
})();
