/* Kith: the little JavaScript the pages use next to htmx (no build step). */
(function () {
  "use strict";

  // A filter left at "any" says nothing: keep it out of list URLs so links stay short and shareable.
  function isBlank(value) {
    return value === "" || value === "unknown";
  }

  function dropBlank(formData) {
    Array.from(new Set(formData.keys())).forEach(function (key) {
      if (formData.getAll(key).every(isBlank)) formData.delete(key);
    });
    return formData;
  }

  // htmx requests (search as you type, sort, page size).
  document.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.verb === "get" && event.detail.formData) dropBlank(event.detail.formData);
  });

  // Forms marked data-swap-errors show their 400 answer (the form with its errors) in place;
  // also 413 (file too large) and 429 (an hourly quota used up), which carry the form too.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var source = (event.detail.requestConfig && event.detail.requestConfig.elt) || event.detail.elt;
    if ([400, 413, 429].indexOf(event.detail.xhr.status) >= 0 && source && source.closest("[data-swap-errors]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // Plain submits of filter forms ("Apply filters").
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[data-clean-get]")) return;
    event.preventDefault();
    var query = new URLSearchParams(dropBlank(new FormData(form))).toString();
    window.location.assign(form.action + (query ? "?" + query : ""));
  });

  // The global search box: Escape or a click elsewhere closes the suggestions; arrow keys move through them.
  function closeSuggestions() {
    var panel = document.getElementById("nav-suggest");
    if (panel) panel.innerHTML = "";
  }
  document.addEventListener("click", function (event) {
    if (!event.target.closest(".nav-search")) closeSuggestions();
  });
  document.addEventListener("keydown", function (event) {
    var box = event.target.closest && event.target.closest(".nav-search");
    if (!box) return;
    if (event.key === "Escape") { closeSuggestions(); return; }
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    var items = Array.from(box.querySelectorAll(".suggest-item, .suggest-all"));
    if (!items.length) return;
    event.preventDefault();
    var index = items.indexOf(document.activeElement);
    var next = event.key === "ArrowDown" ? index + 1 : index - 1;
    if (next < 0) { box.querySelector("input").focus(); return; }
    items[Math.min(next, items.length - 1)].focus();
  });

  // Forms marked data-confirm="question" ask first (htmx forms use hx-confirm; htmx has already
  // taken over their submit when this runs).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !form.matches("form[data-confirm]")) return;
    if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
  });

  // Selects marked data-autosubmit submit their form when changed.
  document.addEventListener("change", function (event) {
    if (event.target.matches("select[data-autosubmit]") && event.target.form) event.target.form.requestSubmit();
  });

  // Links marked data-current-query take the page's current query string (lists filtered in place).
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-current-query]");
    if (link) link.search = window.location.search;
  });

  // The contact filters start folded on narrow screens unless some are in use.
  function foldFilters() {
    var panel = document.querySelector("details[data-fold-narrow]");
    if (panel && window.matchMedia("(max-width: 960px)").matches) panel.open = false;
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", foldFilters);
  else foldFilters();
})();
