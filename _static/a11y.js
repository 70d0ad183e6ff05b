// Accessible names for a few controls of the theme that have none a screen reader can use
// (found by the browser check's axe-core audit, tools/check_book.py).
(function () {
  function fix() {
    // The sidebar's expand/collapse toggles are <summary> elements holding only an icon.
    document.querySelectorAll(".bd-sidenav details > summary").forEach(function (s) {
      if (s.textContent.trim() || s.hasAttribute("aria-label")) return;
      var item = s.closest("li");
      var link = item && item.querySelector(":scope > a");
      var name = link ? link.textContent.trim() : "this section";
      s.setAttribute("aria-label", "Show or hide the pages of " + name);
    });
    // The search button's name must contain its visible text ("Search Ctrl+K").
    document.querySelectorAll(".search-button__button[aria-label]").forEach(function (b) {
      b.removeAttribute("aria-label");
    });
    // The colour-mode button: its icons are decoration; the button's label names it.
    document.querySelectorAll(".theme-switch-button .theme-switch").forEach(function (i) {
      i.setAttribute("aria-hidden", "true");
      i.removeAttribute("title");
    });
    // The bibliography: docutils marks it role="list" with entries role="doc-biblioentry", a
    // role ARIA 1.3 deprecates, so the list has no items a screen reader can step through.
    document.querySelectorAll('.citation-list[role="list"] > [role="doc-biblioentry"]').forEach(
      function (c) {
        c.setAttribute("role", "listitem");
      }
    );
    // A hidden cell's toggle: myst-nb names it "Toggle hidden content" while it shows "Show
    // code cell source"; the name a speech user says must be the words on screen.
    document.querySelectorAll("details.hide > summary[aria-label]").forEach(function (s) {
      if (s.textContent.trim()) s.removeAttribute("aria-label");
    });
    // The left sidebar (the book's title, search and table of contents) as one landmark, so
    // that no content of the page lies outside a landmark.
    document.querySelectorAll(".bd-sidebar-primary:not([role])").forEach(function (s) {
      s.setAttribute("role", "complementary");
      s.setAttribute("aria-label", "The book's contents");
    });
    tabStops();
  }
  // A box that scrolls sideways (a wide table or output) must be reachable by keyboard, or a
  // keyboard user cannot scroll it; boxes that fit need no tab stop.
  function tabStops() {
    document
      .querySelectorAll(".dlparts-table, .cell_output pre, .pst-scrollable-table-container")
      .forEach(function (e) {
        if (e.scrollWidth > e.clientWidth + 1) {
          if (!e.hasAttribute("tabindex")) {
            e.setAttribute("tabindex", "0");
            e.setAttribute("data-dlparts-tabstop", "");
          }
        } else if (e.hasAttribute("data-dlparts-tabstop")) {
          e.removeAttribute("tabindex");
          e.removeAttribute("data-dlparts-tabstop");
        }
      });
  }
  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(tabStops, 200);
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fix);
  else fix();
})();
