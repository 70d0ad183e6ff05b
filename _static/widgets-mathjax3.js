// The Jupyter widgets HTML manager typesets widget labels with MathJax 2's `MathJax.Hub.Queue`;
// the book uses MathJax 3. Give it a small bridge to `MathJax.typesetPromise`.
(function () {
  function bridge() {
    if (!window.MathJax || window.MathJax.Hub) return;
    window.MathJax.Hub = {
      Queue: function (job) {
        var el = job && job[2];
        if (window.MathJax.typesetPromise) {
          window.MathJax.typesetPromise(el ? [el] : undefined).catch(function () {});
        }
      },
    };
  }
  bridge();
  document.addEventListener("DOMContentLoaded", bridge);
  window.addEventListener("load", bridge);
})();
