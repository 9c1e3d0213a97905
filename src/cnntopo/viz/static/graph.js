(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("mapper-data").textContent);
  var byId = {};
  data.nodes.forEach(function (n) { byId[String(n.id)] = n; });
  var svg = document.getElementById("graph");
  var tip = document.getElementById("tooltip");
  var h = data.shape[0], w = data.shape[1];
  var labels = {};
  data.colourings.forEach(function (c) { labels[c.key] = c.label; });
  var current = data.colourings[0].key;

  // Colour the nodes by another value: each node carries its colour per colouring.
  function colourBy(key) {
    current = key;
    var circles = svg.querySelectorAll ? svg.querySelectorAll("circle.node") : [];
    Array.prototype.forEach.call(circles, function (c) {
      var n = byId[c.getAttribute("data-id")];
      if (n) { c.setAttribute("fill", n.colours[key]); }
    });
    var scales = document.querySelectorAll ? document.querySelectorAll(".scale") : [];
    Array.prototype.forEach.call(scales, function (s) {
      if (s.getAttribute("data-key") === key) { s.classList.add("shown"); }
      else { s.classList.remove("shown"); }
    });
  }
  var select = document.getElementById("colour-by");
  if (select) {
    select.addEventListener("change", function () { colourBy(select.value); });
  }

  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c];
    });
  }
  function filterSvg(mean) {
    var m = 0, cell = 14, out = [], i;
    for (i = 0; i < mean.length; i++) { m = Math.max(m, Math.abs(mean[i])); }
    if (m === 0) { m = 1; }
    out.push('<svg class="filter" width="' + (w * cell) + '" height="' + (h * cell) + '">');
    for (i = 0; i < mean.length; i++) {
      var g = Math.round(127.5 + 127.5 * mean[i] / m);
      out.push('<rect x="' + ((i % w) * cell) + '" y="' + (Math.floor(i / w) * cell) +
               '" width="' + cell + '" height="' + cell + '" fill="rgb(' + g + ',' + g + ',' +
               g + ')"></rect>');
    }
    out.push("</svg>");
    return out.join("");
  }
  function place(evt) {
    tip.style.left = (evt.clientX + 14) + "px";
    tip.style.top = (evt.clientY + 14) + "px";
  }
  svg.addEventListener("mouseover", function (evt) {
    var t = evt.target;
    if (!t.classList || !t.classList.contains("node")) { return; }
    var n = byId[t.getAttribute("data-id")];
    if (!n) { return; }
    t.classList.add("hover");
    var value = "";
    if (current !== "size" && n.values && current in n.values) {
      value = "<br>" + esc(labels[current]) + ": " + Number(n.values[current]).toPrecision(3);
    }
    tip.innerHTML = "<b>node " + esc(n.id) + "</b><br>" + n.size + " points" + value +
                    "<br>mean filter (" + h + "&times;" + w + "):" + filterSvg(n.mean);
    tip.style.display = "block";
    place(evt);
  });
  svg.addEventListener("mousemove", function (evt) {
    if (tip.style.display === "block") { place(evt); }
  });
  svg.addEventListener("mouseout", function (evt) {
    var t = evt.target;
    if (t.classList && t.classList.contains("node")) {
      t.classList.remove("hover");
      tip.style.display = "none";
    }
  });

  // Zoom (wheel, about the cursor) and pan (drag) by editing the viewBox.
  var vb = data.viewBox.slice();
  function apply() { svg.setAttribute("viewBox", vb.join(" ")); }
  function toGraph(evt) {
    var r = svg.getBoundingClientRect();
    return [vb[0] + (evt.clientX - r.left) / r.width * vb[2],
            vb[1] + (evt.clientY - r.top) / r.height * vb[3]];
  }
  svg.addEventListener("wheel", function (evt) {
    evt.preventDefault();
    var p = toGraph(evt), f = evt.deltaY > 0 ? 1.15 : 1 / 1.15;
    vb = [p[0] - (p[0] - vb[0]) * f, p[1] - (p[1] - vb[1]) * f, vb[2] * f, vb[3] * f];
    apply();
  }, {passive: false});
  var drag = null;
  svg.addEventListener("mousedown", function (evt) {
    drag = {x: evt.clientX, y: evt.clientY, vb: vb.slice()};
    svg.classList.add("dragging");
  });
  window.addEventListener("mousemove", function (evt) {
    if (!drag) { return; }
    var r = svg.getBoundingClientRect();
    vb[0] = drag.vb[0] - (evt.clientX - drag.x) / r.width * vb[2];
    vb[1] = drag.vb[1] - (evt.clientY - drag.y) / r.height * vb[3];
    apply();
  });
  window.addEventListener("mouseup", function () {
    drag = null;
    svg.classList.remove("dragging");
  });
  svg.addEventListener("dblclick", function () { vb = data.viewBox.slice(); apply(); });
})();
