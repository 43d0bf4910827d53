/* The dashboard's charts (Chart.js, vendored in static/vendor/chartjs), drawn from the
   metrics the page embeds with json_script. Every chart also has a table on the page. */
(function () {
  "use strict";

  function draw() {
    var source = document.getElementById("dashboard-data");
    if (!source || typeof window.Chart === "undefined") return;
    var data = JSON.parse(source.textContent);
    var Chart = window.Chart;
    var css = getComputedStyle(document.documentElement);
    function token(name, fallback) { return (css.getPropertyValue(name) || "").trim() || fallback; }
    var accent = token("--accent-600", "#4f46e5");
    var accentSoft = token("--accent-200", "#c7d2fe");
    var muted = token("--gray-500", "#64748b");
    var grid = token("--gray-100", "#f1f5f9");
    var palette = ["#4f46e5", "#0ea5e9", "#10b981", "#f59e0b", "#ef4444", "#8b5cf6", "#14b8a6",
                   "#ec4899", "#84cc16", "#f97316", "#64748b", "#06b6d4", "#a855f7", "#eab308"];

    Chart.defaults.font.family = token("--font-sans", "system-ui, sans-serif");
    Chart.defaults.color = muted;
    Chart.defaults.plugins.legend.labels.boxWidth = 12;
    Chart.defaults.maintainAspectRatio = false;
    Chart.defaults.animation = window.matchMedia("(prefers-reduced-motion: reduce)").matches ? false : { duration: 300 };

    var intTicks = { precision: 0 };
    function axes(stacked, horizontal) {
      var value = { beginAtZero: true, ticks: intTicks, grid: { color: grid }, stacked: stacked, border: { display: false } };
      var category = { grid: { display: false }, stacked: stacked, border: { display: false } };
      return horizontal ? { x: value, y: category } : { x: category, y: value };
    }

    var labelFormat = { day: { month: "short", day: "numeric" }, week: { month: "short", day: "numeric" },
                        month: { month: "short", year: "numeric" } }[data.range.bucket];
    var growthLabels = data.growth.map(function (p) {
      var d = new Date(p.start + "T00:00:00");
      var text = d.toLocaleDateString(undefined, labelFormat);
      return data.range.bucket === "week" ? "Wk of " + text : text;
    });

    var charts = [];
    function make(id, config) {
      var canvas = document.getElementById(id);
      if (canvas) charts.push(new Chart(canvas, config));
    }

    make("chart-growth", {
      data: {
        labels: growthLabels,
        datasets: [
          { type: "bar", label: "New contacts", data: data.growth.map(function (p) { return p.new; }),
            backgroundColor: accentSoft, hoverBackgroundColor: accent, borderRadius: 4, yAxisID: "y", order: 2 },
          { type: "line", label: "Total contacts", data: data.growth.map(function (p) { return p.cumulative; }),
            borderColor: accent, backgroundColor: accent, borderWidth: 2, pointRadius: data.growth.length > 40 ? 0 : 2,
            tension: 0.25, yAxisID: "y1", order: 1 }
        ]
      },
      options: {
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { grid: { display: false }, border: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
          y: { beginAtZero: true, ticks: intTicks, grid: { color: grid }, border: { display: false },
               title: { display: true, text: "New" } },
          y1: { position: "right", ticks: intTicks, grid: { display: false }, border: { display: false },
                title: { display: true, text: "Total" } }
        },
        plugins: { legend: { position: "bottom" } }
      }
    });

    make("chart-stage", {
      type: "bar",
      data: {
        labels: data.by_stage.map(function (r) { return r.label; }),
        datasets: [{ label: "Contacts", data: data.by_stage.map(function (r) { return r.count; }),
                     backgroundColor: palette.slice(0, data.by_stage.length), borderRadius: 4 }]
      },
      options: { indexAxis: "y", scales: axes(false, true), plugins: { legend: { display: false } } }
    });

    make("chart-source", {
      type: "doughnut",
      data: {
        labels: data.by_source.map(function (r) { return r.label; }),
        datasets: [{ data: data.by_source.map(function (r) { return r.count; }),
                     backgroundColor: palette, borderColor: "#fff", borderWidth: 2 }]
      },
      options: { cutout: "62%", plugins: { legend: { position: "right" } } }
    });

    var m = data.messages;
    make("chart-sms", {
      type: "bar",
      data: {
        labels: ["Sent", "Delivered", "Failed", "Waiting"],
        datasets: [{ label: "Messages", data: [m.sent, m.delivered, m.failed, m.pending],
                     backgroundColor: [accent, "#10b981", "#ef4444", "#94a3b8"], borderRadius: 4 }]
      },
      options: { scales: axes(false, false), plugins: { legend: { display: false } } }
    });

    var reps = data.activities.by_rep;
    make("chart-reps", {
      type: "bar",
      data: {
        labels: reps.map(function (r) { return r.name; }),
        datasets: data.activities.types.map(function (t, i) {
          return { label: t.label, data: reps.map(function (r) { return r.by_type[t.type] || 0; }),
                   backgroundColor: palette[i % palette.length], borderRadius: 2 };
        })
      },
      options: { indexAxis: "y", scales: axes(true, true), plugins: { legend: { position: "bottom" } } }
    });

    document.documentElement.dataset.dashboardCharts = String(charts.length);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
