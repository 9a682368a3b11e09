// Draws the overview's charts from the JSON the page embeds (no inline script: the CSP forbids it).
function drawCharts() {
  const el = document.getElementById("series");
  if (!el || typeof Chart === "undefined") return;
  const rows = JSON.parse(el.textContent);
  const names = JSON.parse(document.getElementById("labels").textContent);
  const labels = rows.map(r => r.bucket.replace("T00:00", ""));
  const line = (id, keys, type) => {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    new Chart(canvas, {
      type: type || "line",
      data: { labels, datasets: keys.map(k => ({ label: names[k], data: rows.map(r => r[k]), tension: 0.2 })) },
      options: { animation: false, responsive: true, maintainAspectRatio: false, plugins: { legend: { position: "bottom" } } },
    });
  };
  line("chart-requests", ["requests", "errors"], "bar");
  line("chart-cost", ["cost", "cache_saved"]);
  line("chart-tokens", ["tokens"], "bar");
  line("chart-latency", ["p50", "p95"]);
  document.body.dataset.charts = "drawn";
}
document.addEventListener("DOMContentLoaded", drawCharts);
