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

  // Plain submits of filter forms ("Apply filters").
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[data-clean-get]")) return;
    event.preventDefault();
    var query = new URLSearchParams(dropBlank(new FormData(form))).toString();
    window.location.assign(form.action + (query ? "?" + query : ""));
  });
})();
