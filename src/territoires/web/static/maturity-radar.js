// The radar chart of a maturity diagnostic, drawn with Chart.js from the figures the page
// carries in <script type="application/json" id="maturity-data">. The table next to it holds
// the same figures: it is what a screen reader and a browser without JavaScript read, so the
// chart itself is hidden from assistive technologies.
(function () {
  "use strict";
  var data = document.getElementById("maturity-data");
  var figure = document.getElementById("maturity-radar");
  if (!data || !figure || typeof window.Chart !== "function") return;
  var figures = JSON.parse(data.textContent);
  var canvas = document.createElement("canvas");
  canvas.setAttribute("aria-hidden", "true");
  canvas.width = 560;
  canvas.height = 560;
  var caption = document.createElement("figcaption");
  caption.textContent = figures.title;
  figure.appendChild(canvas);
  figure.appendChild(caption);
  figure.hidden = false;
  var datasets = [{
    label: figures.levelLabel, data: figures.levels,
    borderColor: "#1f4e79", backgroundColor: "rgba(31, 78, 121, 0.25)", pointBackgroundColor: "#1f4e79"
  }];
  if (figures.medians) {
    datasets.push({
      label: figures.medianLabel, data: figures.medians, borderDash: [6, 4],
      borderColor: "#8a4b00", backgroundColor: "rgba(138, 75, 0, 0.08)", pointBackgroundColor: "#8a4b00"
    });
  }
  new window.Chart(canvas, {
    type: "radar",
    data: { labels: figures.labels, datasets: datasets },
    options: {
      animation: false,
      scales: { r: { min: 0, max: 5, ticks: { stepSize: 1 } } },
      plugins: { legend: { position: "bottom" } }
    }
  });
  figure.setAttribute("data-drawn", "true");
})();
