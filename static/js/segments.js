/* Segment rule builder: renders the criteria tree (nested and/or groups of rules), writes it
   as JSON into the form's criteria field, asks the server for a live count, and shows each
   validation error next to the rule at fault (errors carry paths like criteria.rules[1].value). */
(function () {
  "use strict";

  var dataEl = document.getElementById("segment-builder-data");
  var root = document.getElementById("rule-builder");
  var form = document.getElementById("segment-form");
  if (!dataEl || !root || !form) return;
  var data = JSON.parse(dataEl.textContent);
  var textarea = form.querySelector("textarea[name=criteria]");
  var countEl = document.getElementById("segment-count");
  var fields = {};
  data.fields.forEach(function (f) { fields[f.name] = f; });
  var errors = data.errors || {};
  var tree = data.tree && data.tree.op ? data.tree : {op: "and", rules: []};
  var NO_VALUE = {is_empty: 1, is_not_empty: 1};
  var RELATIVE = {in_last_days: 1, more_than_days_ago: 1, in_next_days: 1};
  var MULTI = {choice: 1, ref: 1, tags: 1, cf_choice: 1, cf_multichoice: 1};

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function select(options, value, onchange, label) {
    var s = el("select", {"aria-label": label, onchange: onchange});
    options.forEach(function (o) {
      var opt = el("option", {value: o[0], text: o[1]});
      if (String(o[0]) === String(value)) opt.selected = true;
      s.appendChild(opt);
    });
    return s;
  }

  function firstOperator(field) { return field.operators[0][0]; }

  function defaultValue(field, op) {
    if (NO_VALUE[op]) return undefined;
    if (MULTI[field.kind]) return [];
    if (field.kind === "bool" || field.kind === "cf_bool") return true;
    if (RELATIVE[op]) return 30;
    if (op === "between") return ["", ""];
    if (field.kind === "activity_count") return 1;
    return "";
  }

  function numberOr(text) {
    var n = Number(text);
    return text !== "" && !isNaN(n) ? n : text;
  }

  function errorList(path, exact) {
    var messages = [];
    Object.keys(errors).forEach(function (p) {
      var own = p === path || (!exact && p.indexOf(path + ".") === 0 && p.slice(path.length + 1).indexOf("rules[") !== 0);
      if (own) errors[p].forEach(function (m) { messages.push((p === path ? "" : p.slice(path.length + 1) + ": ") + m); });
    });
    if (!messages.length) return null;
    return el("ul", {"class": "errorlist"}, messages.map(function (m) { return el("li", {text: m}); }));
  }

  function valueEditor(rule, field, changed) {
    var op = rule.operator;
    if (NO_VALUE[op]) return null;
    var kind = field.kind;
    if (MULTI[kind]) {
      var s = el("select", {multiple: "multiple", "aria-label": "Values", size: Math.min(5, field.choices.length || 1),
        onchange: function () {
          rule.value = Array.prototype.filter.call(s.options, function (o) { return o.selected; })
            .map(function (o) { return kind === "ref" || kind === "tags" ? Number(o.value) : o.value; });
          changed();
        }});
      var chosen = (rule.value || []).map(String);
      field.choices.forEach(function (c) {
        var opt = el("option", {value: c[0], text: c[1]});
        if (chosen.indexOf(String(c[0])) >= 0) opt.selected = true;
        s.appendChild(opt);
      });
      return s;
    }
    if (kind === "bool" || kind === "cf_bool") {
      return select([["true", "yes"], ["false", "no"]], String(rule.value), function (e) {
        rule.value = e.target.value === "true"; changed();
      }, "Value");
    }
    var isDate = /date/.test(kind) && !RELATIVE[op];
    var type = isDate ? "date" : (kind === "text" || kind === "cf_text" || kind === "company" ? "text" : "number");
    function input(value, set, label) {
      return el("input", {type: type, value: value === undefined ? "" : value, "aria-label": label,
        placeholder: kind === "company" ? "company ids, e.g. 12, 40" : (RELATIVE[op] ? "days" : ""),
        oninput: function (e) { set(e.target.value); changed(); }});
    }
    function convert(text) {
      if (kind === "company") {
        return text.split(",").map(function (t) { return numberOr(t.trim()); }).filter(function (t) { return t !== ""; });
      }
      return type === "number" ? numberOr(text) : text;
    }
    if (op === "between") {
      var pair = Array.isArray(rule.value) ? rule.value : ["", ""];
      rule.value = pair;
      return el("span", {"class": "rule-pair"}, [
        input(pair[0], function (v) { pair[0] = convert(v); }, "From"), el("span", {text: "and"}),
        input(pair[1], function (v) { pair[1] = convert(v); }, "To")]);
    }
    var shown = Array.isArray(rule.value) ? rule.value.join(", ") : rule.value;
    var box = input(shown, function (v) { rule.value = convert(v); }, "Value");
    if (RELATIVE[op]) return el("span", {"class": "rule-pair"}, [box, el("span", {text: "days"})]);
    return box;
  }

  function activityExtras(rule, field, changed) {
    var types = [["", "of any type"]].concat(field.choices.map(function (c) { return [c[0], "of type " + c[1]]; }));
    var current = Array.isArray(rule.activity_type) ? rule.activity_type[0] : (rule.activity_type || "");
    return el("span", {"class": "rule-pair"}, [
      select(types, current, function (e) {
        if (e.target.value) rule.activity_type = e.target.value; else delete rule.activity_type;
        changed();
      }, "Activity type"),
      el("span", {text: "in the last"}),
      el("input", {type: "number", min: 1, value: rule.days || "", placeholder: "any", "aria-label": "Days",
        oninput: function (e) { if (e.target.value) rule.days = numberOr(e.target.value); else delete rule.days; changed(); }}),
      el("span", {text: "days"})]);
  }

  function renderRule(rule, path, parent, index) {
    var field = fields[rule.field];
    var fieldOptions = data.fields.map(function (f) { return [f.name, f.label]; });
    if (!field) fieldOptions.unshift([rule.field || "", rule.field ? rule.field + " (unknown)" : "Choose a field"]);
    var row = el("div", {"class": "rule", "data-path": path});
    row.appendChild(select(fieldOptions, rule.field, function (e) {
      var f = fields[e.target.value];
      rule.field = e.target.value;
      rule.operator = firstOperator(f);
      rule.value = defaultValue(f, rule.operator);
      delete rule.activity_type; delete rule.days;
      update(true);
    }, "Field"));
    if (field) {
      row.appendChild(select(field.operators, rule.operator, function (e) {
        var before = rule.operator;
        rule.operator = e.target.value;
        if (NO_VALUE[rule.operator]) delete rule.value;
        else if (NO_VALUE[before] || RELATIVE[before] !== RELATIVE[rule.operator] || (before === "between") !== (rule.operator === "between")) {
          rule.value = defaultValue(field, rule.operator);
        }
        update(true);
      }, "Operator"));
      var editor = valueEditor(rule, field, function () { update(false); });
      if (editor) row.appendChild(editor);
      if (field.kind === "activity_count") row.appendChild(activityExtras(rule, field, function () { update(false); }));
    }
    row.appendChild(el("button", {type: "button", "class": "btn btn-ghost btn-sm", "aria-label": "Remove rule", text: "✕",
      onclick: function () { parent.rules.splice(index, 1); update(true); }}));
    var wrap = el("div", {"class": "rule-wrap" + (errorList(path) ? " has-error" : "")}, [row, errorList(path)]);
    return wrap;
  }

  function renderGroup(group, path, parent, index, depth) {
    var box = el("div", {"class": "rule-group" + (depth ? " nested" : ""), "data-path": path});
    var head = el("div", {"class": "rule-group-head"}, [
      el("span", {text: "Match"}),
      select([["and", "all"], ["or", "any"]], group.op, function (e) { group.op = e.target.value; update(false); }, "Combine rules"),
      el("span", {text: "of these rules:"})]);
    if (parent) {
      head.appendChild(el("button", {type: "button", "class": "btn btn-ghost btn-sm", text: "Remove group",
        onclick: function () { parent.rules.splice(index, 1); update(true); }}));
    }
    box.appendChild(head);
    var own = errorList(path);
    if (own) box.appendChild(own);
    (group.rules || []).forEach(function (child, i) {
      var childPath = path + ".rules[" + i + "]";
      box.appendChild(child && child.op !== undefined ? renderGroup(child, childPath, group, i, depth + 1)
        : renderRule(child || {}, childPath, group, i));
    });
    var actions = el("div", {"class": "rule-actions"}, [
      el("button", {type: "button", "class": "btn btn-secondary btn-sm", text: "+ Rule", onclick: function () {
        var f = data.fields[0];
        group.rules.push({field: f.name, operator: firstOperator(f), value: defaultValue(f, firstOperator(f))});
        update(true);
      }}),
      el("button", {type: "button", "class": "btn btn-ghost btn-sm", text: "+ Group", onclick: function () {
        var f = data.fields[0];
        group.rules.push({op: "or", rules: [{field: f.name, operator: firstOperator(f), value: defaultValue(f, firstOperator(f))}]});
        update(true);
      }})]);
    box.appendChild(actions);
    return box;
  }

  function render() {
    root.innerHTML = "";
    root.appendChild(renderGroup(tree, "criteria", null, 0, 0));
  }

  var timer = null;
  var serverList = document.getElementById("criteria-errors");

  function update(rerender) {
    textarea.value = JSON.stringify(tree);
    if (rerender) render();
    clearTimeout(timer);
    timer = setTimeout(preview, 350);
  }

  function preview() {
    var body = new FormData();
    body.append("criteria", textarea.value);
    var token = form.querySelector("input[name=csrfmiddlewaretoken]");
    countEl.textContent = "Counting…";
    fetch(root.getAttribute("data-preview-url"), {method: "POST", body: body, credentials: "same-origin",
      headers: {"X-CSRFToken": token ? token.value : ""}})
      .then(function (r) { return r.json(); })
      .then(function (result) {
        if (serverList) { serverList.remove(); serverList = null; }
        errors = result.errors || {};
        countEl.textContent = result.errors ? "Fix the rules marked below"
          : result.count + (result.count === 1 ? " contact matches" : " contacts match");
        countEl.className = "segment-count" + (result.errors ? " is-error" : "");
        var focused = document.activeElement && root.contains(document.activeElement);
        if (!focused) render();
        else markErrors();
      })
      .catch(function () { countEl.textContent = ""; });
  }

  // While typing, keep the focused input: only refresh the error lists.
  function markErrors() {
    root.querySelectorAll(".rule-wrap > .errorlist, .rule-group > .errorlist").forEach(function (e) { e.remove(); });
    root.querySelectorAll("[data-path]").forEach(function (node) {
      var path = node.getAttribute("data-path");
      var list = errorList(path);
      var wrap = node.classList.contains("rule") ? node.parentNode : node;
      if (node.classList.contains("rule")) wrap.classList.toggle("has-error", !!list);
      if (list) {
        if (node.classList.contains("rule")) wrap.appendChild(list);
        else node.insertBefore(list, node.children[1] || null);
      }
    });
  }

  // Typing JSON by hand re-renders the builder when it parses.
  textarea.addEventListener("input", function () {
    try {
      var parsed = JSON.parse(textarea.value);
      if (parsed && parsed.op) { tree = parsed; render(); clearTimeout(timer); timer = setTimeout(preview, 350); }
    } catch (e) { /* keep editing */ }
  });

  render();
  if (!data.tree || !data.tree.op) return;
  textarea.value = JSON.stringify(tree);
  preview();
})();
