/* planner map runtime: builds layers, popups, tooltips, the legend and the search index
 * of map.html from JSON specs written by planner/maps.py.
 *
 * Every text that comes from the data is put into the page with textContent or
 * setAttribute, never parsed as HTML. */
var plannerMap = (function () {
  "use strict";

  var SVGNS = "http://www.w3.org/2000/svg";
  // village dots lie above the icons of village centers and stations (often on the same
  // spot) so that both show; larger centers use the marker pane (600) above them all
  var PANES = {
    plannerBoundaries: 402, plannerAreas: 405, plannerLocalCenters: 440, plannerVillages: 450,
    plannerIssues: 460
  };
  var locale = "zh-CN";
  var index = Object.create(null); // search key -> {ll, layers}

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svg(tag, attrs) {
    var node = document.createElementNS(SVGNS, tag);
    for (var name in attrs) node.setAttribute(name, String(attrs[name]));
    return node;
  }

  function starPoints(n, outer, inner) {
    var pts = [];
    for (var i = 0; i < 2 * n; i++) {
      var r = i % 2 ? inner : outer, a = Math.PI * i / n - Math.PI / 2;
      pts.push((10 + r * Math.cos(a)).toFixed(2) + "," + (10 + r * Math.sin(a)).toFixed(2));
    }
    return pts.join(" ");
  }

  var SHAPES = {
    circle: function () { return svg("circle", { cx: 10, cy: 10, r: 7.5 }); },
    dot: function () { return svg("circle", { cx: 10, cy: 10, r: 5 }); },
    square: function () { return svg("rect", { x: 3, y: 3, width: 14, height: 14 }); },
    diamond: function () { return svg("polygon", { points: "10,1.5 18.5,10 10,18.5 1.5,10" }); },
    triangle: function () { return svg("polygon", { points: "10,1.5 18.8,17.5 1.2,17.5" }); },
    star: function () { return svg("polygon", { points: starPoints(5, 9.5, 4) }); },
    hexagon: function () { return svg("polygon", { points: starPoints(3, 9, 9) }); }
  };

  /* The symbol of an icon style: an SVG shape, or a round badge holding a label. */
  function iconNode(icon, label) {
    if (icon.shape === "badge") {
      var badge = el("div", "planner-badge", label);
      badge.style.backgroundColor = icon.fill;
      return badge;
    }
    var root = svg("svg", { viewBox: "0 0 20 20" });
    var shape = (SHAPES[icon.shape] || SHAPES.circle)();
    shape.setAttribute("fill", icon.fill);
    shape.setAttribute("stroke", icon.stroke || "#ffffff");
    shape.setAttribute("stroke-width", icon.strokeWidth || 1.5);
    root.appendChild(shape);
    return root;
  }

  /* A small legend swatch for a path style (circle marker, area or line). */
  function swatch(style, kind) {
    var root = svg("svg", { viewBox: "0 0 20 20", "class": "planner-sym" });
    if (kind === "icon") {
      var holder = el("div", "planner-sym planner-sym-icon");
      holder.appendChild(iconNode(style.icon, "1"));
      return holder;
    }
    var p = style.path || {}, shape;
    if (kind === "circle") shape = svg("circle", { cx: 10, cy: 10, r: 6 });
    else if (kind === "line") shape = svg("line", { x1: 1, y1: 10, x2: 19, y2: 10 });
    else if (kind === "heat") {
      shape = svg("circle", { cx: 10, cy: 10, r: 8 });
      shape.setAttribute("fill", "url(#planner-heat)");
      var defs = svg("defs", {}), grad = svg("radialGradient", { id: "planner-heat" });
      [["0%", "#ff0000"], ["50%", "#ffff00"], ["100%", "#0000ff"]].forEach(function (s) {
        grad.appendChild(svg("stop", { offset: s[0], "stop-color": s[1], "stop-opacity": 0.8 }));
      });
      defs.appendChild(grad);
      root.appendChild(defs);
      root.appendChild(shape);
      return root;
    } else shape = svg("rect", { x: 2, y: 4, width: 16, height: 12 });
    shape.setAttribute("stroke", p.color || "#333");
    shape.setAttribute("stroke-width", Math.min(p.weight || 1, 3));
    if (p.dashArray) shape.setAttribute("stroke-dasharray", "3 2");
    var filled = p.fill !== false && kind !== "line";
    shape.setAttribute("fill", filled ? (p.fillColor || p.color || "none") : "none");
    shape.setAttribute("fill-opacity", filled ? Math.max(p.fillOpacity || 0.2, 0.25) : 0);
    root.appendChild(shape);
    return root;
  }

  function fmt(value) {
    if (typeof value === "number") return value.toLocaleString(locale, { maximumFractionDigits: 1 });
    return String(value);
  }

  function popupNode(title, subtitle, labels, values) {
    var box = el("div", "planner-popup");
    if (title !== null && title !== undefined) box.appendChild(el("div", "planner-popup-title", title));
    if (subtitle) box.appendChild(el("div", "planner-popup-sub", subtitle));
    var table = el("table");
    for (var i = 0; i < labels.length; i++) {
      var v = values[i];
      if (v === null || v === undefined || v === "") continue;
      var row = table.insertRow();
      row.appendChild(el("th", null, labels[i]));
      row.appendChild(el("td", null, fmt(v)));
    }
    box.appendChild(table);
    return box;
  }

  function makeLayer(kind, g, style, radius, pane, label) {
    var opts, p = style.path || {};
    if (kind === "icon") {
      var icon = style.icon, size = icon.size || 18;
      return L.marker([g[0], g[1]], {
        pane: pane || "markerPane",
        keyboard: false,
        riseOnHover: true,
        icon: L.divIcon({ html: iconNode(icon, label), className: "planner-icon " + style.cls, iconSize: [size, size] })
      });
    }
    opts = L.extend({}, p, { className: style.cls, pane: pane });
    if (kind === "circle") return L.circleMarker([g[0], g[1]], L.extend(opts, { radius: radius || p.radius || 5 }));
    if (kind === "disc") return L.circle([g[0], g[1]], L.extend(opts, { radius: g[2] }));
    return L.geoJSON(g, {
      style: function () { return opts; },
      pointToLayer: function (f, ll) { return L.circleMarker(ll, L.extend({}, opts, { radius: 7 })); }
    });
  }

  function register(key, g, layer) {
    var rec = index[key];
    if (!rec) rec = index[key] = { ll: L.latLng(g[0], g[1]), layers: [] };
    rec.layers.push(layer);
  }

  /* A feature group from a spec; columns missing in the spec come from ``base`` (data
   * shared by several layers, such as the villages of every coverage level). */
  function layer(spec, base) {
    base = base || {};
    var g = spec.g || base.g, t = spec.t || base.t, k = spec.k || base.k, r = spec.r || base.r;
    var labels = (base.labels || []).concat(spec.labels || []);
    var group = L.featureGroup();
    for (var i = 0; i < g.length; i++) {
      var style = spec.styles[spec.s ? spec.s[i] : 0];
      var values = (base.p ? base.p[i] : []).concat(spec.p ? spec.p[i] : []);
      var lyr = makeLayer(spec.kind, g[i], style, r ? r[i] : null, spec.pane, spec.n ? spec.n[i] : null);
      bind(lyr, t ? t[i] : null, style.label, labels, values);
      if (k && k[i] && spec.kind !== "shape") register(k[i], g[i], lyr);
      group.addLayer(lyr);
    }
    return group;
  }

  function bind(lyr, title, subtitle, labels, values) {
    lyr.bindPopup(function () { return popupNode(title, subtitle, labels, values); }, { maxWidth: 360 });
    var tip = title === null || title === undefined ? subtitle : title;
    if (tip) lyr.bindTooltip(function () { return el("span", null, tip); }, { sticky: false });
  }

  function heat(spec) {
    return L.heatLayer(spec.points, spec.options);
  }

  function init(map, opts) {
    locale = opts.locale || locale;
    for (var name in PANES) map.createPane(name).style.zIndex = PANES[name];
    L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);
    if (opts.attribution) map.attributionControl.addAttribution(opts.attribution);
  }

  function legend(map, spec) {
    var ctl = L.control({ position: "bottomleft" });
    ctl.onAdd = function () {
      var box = el("div", "planner-legend"), details = el("details");
      details.open = true;
      details.appendChild(el("summary", null, spec.title));
      spec.sections.forEach(function (section) {
        details.appendChild(el("h4", null, section.title));
        section.items.forEach(function (item) {
          var row = el("div", "planner-legend-row");
          row.appendChild(swatch(item.style, item.kind));
          row.appendChild(el("span", null, item.text));
          details.appendChild(row);
        });
      });
      if (spec.notes.length) {
        details.appendChild(el("h4", null, spec.notesTitle));
        var list = el("ul", "planner-notes");
        spec.notes.forEach(function (note) { list.appendChild(el("li", null, note)); });
        details.appendChild(list);
      }
      if (spec.footer) details.appendChild(el("div", "planner-legend-footer", spec.footer));
      box.appendChild(details);
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    ctl.addTo(map);
    return ctl;
  }

  function openAt(map, key) {
    var rec = index[key];
    if (!rec) return;
    for (var i = 0; i < rec.layers.length; i++) {
      if (map.hasLayer(rec.layers[i])) { rec.layers[i].openPopup(); return; }
    }
  }

  function search(map, spec) {
    var ctl = new L.Control.Search({
      position: "topleft",
      sourceData: function (text, callback) {
        var records = {};
        for (var key in index) records[key] = index[key].ll;
        callback(records);
        return { abort: function () {} };
      },
      formatData: function (records) { return records; },
      buildTip: function (text) { return el("li", null, text); },
      moveToLocation: function (latlng, title, m) {
        m.once("moveend", function () { openAt(m, title); });
        m.setView(latlng, Math.max(m.getZoom(), spec.zoom));
      },
      initial: false,
      autoType: false,
      zoom: spec.zoom,
      textPlaceholder: spec.placeholder,
      textCancel: spec.cancel,
      textErr: spec.notFound,
      marker: { icon: false, animate: true, circle: { radius: 14, weight: 3, color: "#e0115f", stroke: true, fill: false } }
    });
    map.addControl(ctl);
    // the plugin listens to keyup only: also react to IME, paste and deletions
    L.DomEvent.on(ctl._input, "input", function () { ctl._handleKeypress({ keyCode: 0 }); });
    return ctl;
  }

  function fullscreen(map, spec) {
    return new L.Control.FullScreen({ position: "topleft", title: spec.title, titleCancel: spec.cancel }).addTo(map);
  }

  return { init: init, layer: layer, heat: heat, legend: legend, search: search, fullscreen: fullscreen, index: index };
})();
