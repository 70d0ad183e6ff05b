// The page's "download .ipynb" (and .md) links point at the source files under _sources/; a
// browser would open a notebook's JSON as a page. The download attribute makes it save the file
// under its own name instead.
(function () {
  function mark() {
    document.querySelectorAll('a[href*="_sources/"]').forEach(function (a) {
      var name = a.getAttribute("href").split("/").pop().split("?")[0];
      if (/\.(ipynb|md)$/.test(name)) a.setAttribute("download", name);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mark);
  else mark();
})();
