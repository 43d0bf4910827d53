/* The contact list's bulk-action bar: selection count, select all, confirmations. */
// Selection (a few lines, no build step). Rows are swapped by htmx,
// so everything is delegated to the document.
(function () {
  const bar = document.getElementById("bulk-bar");
  const action = bar.querySelector("[data-bulk-action]");
  const rows = () => Array.from(document.querySelectorAll("[data-bulk-row]"));
  const allInput = () => document.querySelector("[data-bulk-all-input]");
  function refresh() {
    const checked = rows().filter((box) => box.checked).length;
    const all = allInput() && allInput().value === "1";
    const page = document.querySelector("[data-bulk-page]");
    if (page) page.checked = checked > 0 && checked === rows().length;
    const banner = document.querySelector("[data-bulk-all]");
    if (banner) {
      banner.hidden = !(page && page.checked);
      banner.querySelector("[data-bulk-all-off]").hidden = all;
      banner.querySelector("[data-bulk-all-on]").hidden = !all;
    }
    bar.querySelector("[data-bulk-count]").textContent = all ? "All contacts matching this filter selected"
      : checked ? `${checked} selected` : "Select contacts to act on them";
    bar.querySelectorAll("[data-bulk-apply]").forEach((button) => { button.disabled = !(all || checked); });
  }
  document.addEventListener("change", (event) => {
    const target = event.target;
    if (target.matches("[data-bulk-page]")) rows().forEach((box) => { box.checked = target.checked; });
    if (target.matches("[data-bulk-page], [data-bulk-row]") && allInput()) allInput().value = "";
    refresh();
  });
  document.addEventListener("click", (event) => {
    if (event.target.matches("[data-bulk-select-all]")) { allInput().value = "1"; refresh(); }
    if (event.target.matches("[data-bulk-clear]")) {
      allInput().value = "";
      rows().forEach((box) => { box.checked = false; });
      refresh();
    }
  });
  document.addEventListener("htmx:afterSwap", refresh);
  document.addEventListener("submit", (event) => {
    // Export and Merge open another page with the selection (GET): no confirmation.
    const opensPage = event.submitter && event.submitter.getAttribute("formmethod") === "get";
    if (event.target.id === "bulk-form" && action.value === "delete" && !opensPage && !confirm("Move the selected contacts to the trash? You can undo this.")) {
      event.preventDefault();
    }
    if (event.target.id === "bulk-form" && action.value === "send_sms" && !opensPage && !confirm("Text the selected contacts? Those who cannot be texted are skipped. Texts cannot be unsent.")) {
      event.preventDefault();
    }
  });
  refresh();
})();
