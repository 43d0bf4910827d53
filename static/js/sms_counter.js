/* Live SMS character and segment counter: the same rules as messaging/segments.py (GSM-7
   160/153 with extension characters counting double, else UCS-2 70/67 in UTF-16 code units;
   a two-unit character never split across segments). Any textarea with data-sms-counter="<id>"
   writes "1 segment · 42/160 GSM-7" into the element with that id. */
(function () {
  "use strict";
  if (window.KithSms) return;  // the panel may be swapped in again

  var BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXTENSION = "^{}\\[~]|€\f";
  var SINGLE = {"GSM-7": 160, "UCS-2": 70};
  var PER_SEGMENT = {"GSM-7": 153, "UCS-2": 67};
  var MAX_SEGMENTS = 10;

  function count(text) {
    var chars = Array.from(text);  // code points: a surrogate pair stays one character
    var gsm = chars.every(function (ch) { return BASIC.indexOf(ch) >= 0 || EXTENSION.indexOf(ch) >= 0; });
    var encoding = gsm ? "GSM-7" : "UCS-2";
    var costs = chars.map(function (ch) {
      if (gsm) return EXTENSION.indexOf(ch) >= 0 ? 2 : 1;
      return ch.codePointAt(0) > 0xFFFF ? 2 : 1;
    });
    var units = costs.reduce(function (a, b) { return a + b; }, 0);
    if (units <= SINGLE[encoding]) {
      return {encoding: encoding, units: units, segments: units ? 1 : 0, limit: SINGLE[encoding]};
    }
    var size = PER_SEGMENT[encoding], segments = 1, used = 0;
    costs.forEach(function (cost) {
      if (used + cost > size) { segments += 1; used = 0; }
      used += cost;
    });
    return {encoding: encoding, units: units, segments: segments, limit: segments * size};
  }

  function label(info) {
    return info.segments + (info.segments === 1 ? " segment" : " segments") + " · " +
      info.units + "/" + info.limit + " " + info.encoding;
  }

  function bind(textarea) {
    var out = document.getElementById(textarea.getAttribute("data-sms-counter"));
    if (!out || textarea.dataset.smsCounterBound) return;
    textarea.dataset.smsCounterBound = "1";
    function update() {
      var info = count(textarea.value);
      out.textContent = label(info);
      out.dataset.segments = String(info.segments);
      out.classList.toggle("text-danger", info.segments > MAX_SEGMENTS);
    }
    textarea.addEventListener("input", update);
    update();
  }

  // A template picker fills the message with the template's text (merged for this contact).
  function bindPicker(select) {
    if (select.dataset.smsPickerBound) return;
    select.dataset.smsPickerBound = "1";
    select.addEventListener("change", function () {
      var textarea = document.getElementById(select.getAttribute("data-sms-template-for"));
      var option = select.options[select.selectedIndex];
      if (!textarea || !option || !option.value) return;
      textarea.value = option.getAttribute("data-body") || "";
      textarea.dispatchEvent(new Event("input"));
    });
  }

  function bindAll(root) {
    (root || document).querySelectorAll("textarea[data-sms-counter]").forEach(bind);
    (root || document).querySelectorAll("select[data-sms-template-for]").forEach(bindPicker);
  }

  window.KithSms = {count: count, label: label, bindAll: bindAll};
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { bindAll(document); });
  } else {
    bindAll(document);
  }
  document.addEventListener("htmx:afterSwap", function (e) { bindAll(e.target); });
})();
