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

  // layers of more features than this draw on a canvas (SVG elements would be too many)
  var CANVAS_MIN = 2000;
  // shape layers draw only the features in view, and none while more than this are
  var VIEW_MAX = 20000;
  var hintText = "{name}: {n} in view, zoom in to show them";
  var canvases = Object.create(null); // pane -> canvas renderer

  function canvasFor(pane) {
    var key = pane || "overlayPane";
    return canvases[key] || (canvases[key] = L.canvas({ pane: key, padding: 0.3 }));
  }

  /* Unsigned LEB128 varints of base64 text (planner/outputs/map_page.py: varints). */
  function varints(text) {
    var s = atob(text), out = new Float64Array(s.length), k = 0, v = 0, scale = 1;
    for (var i = 0; i < s.length; i++) {
      var c = s.charCodeAt(i);
      v += (c & 127) * scale;
      if (c < 128) { out[k++] = v; v = 0; scale = 1; } else scale *= 128;
    }
    return out.subarray(0, k);
  }

  /* Compact polygons (map_page.py: encode_polygons) as flat coordinates, offsets and a
   * bounding box per feature; ``rings(i)`` gives feature i as Leaflet lat/lng arrays. */
  function decodeShapes(c) {
    var parts = varints(c.parts), rings = varints(c.rings), verts = varints(c.verts), d = varints(c.xy);
    var n = parts.length, nv = d.length / 2, lat = new Float64Array(nv), lng = new Float64Array(nv);
    var x = 0, y = 0, i;
    for (i = 0; i < nv; i++) {
      x += d[2 * i] % 2 ? -(d[2 * i] + 1) / 2 : d[2 * i] / 2;
      y += d[2 * i + 1] % 2 ? -(d[2 * i + 1] + 1) / 2 : d[2 * i + 1] / 2;
      lng[i] = x / 1e6; lat[i] = y / 1e6;
    }
    var partAt = new Uint32Array(n + 1), ringAt = new Uint32Array(rings.length + 1);
    var vertAt = new Uint32Array(verts.length + 1), box = new Float64Array(4 * n);
    for (i = 0; i < n; i++) partAt[i + 1] = partAt[i] + parts[i];
    for (i = 0; i < rings.length; i++) ringAt[i + 1] = ringAt[i] + rings[i];
    for (i = 0; i < verts.length; i++) vertAt[i + 1] = vertAt[i] + verts[i];
    for (i = 0; i < n; i++) {
      var a = vertAt[ringAt[partAt[i]]], b = vertAt[ringAt[partAt[i + 1]]];
      var s = Infinity, w = Infinity, no = -Infinity, e = -Infinity;
      for (var j = a; j < b; j++) {
        if (lat[j] < s) s = lat[j]; if (lat[j] > no) no = lat[j];
        if (lng[j] < w) w = lng[j]; if (lng[j] > e) e = lng[j];
      }
      box[4 * i] = s; box[4 * i + 1] = w; box[4 * i + 2] = no; box[4 * i + 3] = e;
    }
    function rings_(f) {
      var polys = [];
      for (var p = partAt[f]; p < partAt[f + 1]; p++) {
        var poly = [];
        for (var r = ringAt[p]; r < ringAt[p + 1]; r++) {
          var ring = [];
          for (var v = vertAt[r]; v < vertAt[r + 1]; v++) ring.push([lat[v], lng[v]]);
          poly.push(ring);
        }
        if (poly.length) polys.push(poly);
      }
      return polys.length === 1 ? polys[0] : polys;
    }
    return { n: n, box: box, rings: rings_ };
  }

  function makeLayer(kind, g, style, radius, pane, label, renderer) {
    var opts, p = style.path || {};
    if (kind === "icon" && renderer && (style.icon.shape === "circle" || style.icon.shape === "dot")) {
      // the icon drawn on the canvas: same size, fill and white outline
      var size = style.icon.size || 18, r = (style.icon.shape === "dot" ? 5 : 7.5) * size / 20;
      return L.circleMarker([g[0], g[1]], {
        pane: pane, renderer: renderer, radius: r, color: "#ffffff", weight: 1.5 * size / 20,
        fillColor: style.icon.fill, fillOpacity: 1, className: "planner-icon " + style.cls
      });
    }
    if (kind === "icon") {
      var icon = style.icon, px = icon.size || 18;
      return L.marker([g[0], g[1]], {
        pane: pane || "markerPane",
        keyboard: false,
        riseOnHover: true,
        icon: L.divIcon({ html: iconNode(icon, label), className: "planner-icon " + style.cls, iconSize: [px, px] })
      });
    }
    opts = L.extend({}, p, { className: style.cls, pane: pane });
    if (renderer) opts.renderer = renderer;
    if (kind === "circle") return L.circleMarker([g[0], g[1]], L.extend(opts, { radius: radius || p.radius || 5 }));
    if (kind === "disc") return L.circle([g[0], g[1]], L.extend(opts, { radius: g[2] }));
    if (kind === "rings") return L.polygon(g, opts);
    return L.geoJSON(g, {
      style: function () { return opts; },
      pointToLayer: function (f, ll) { return L.circleMarker(ll, L.extend({}, opts, { radius: 7 })); }
    });
  }

  function register(key, g, group, i) {
    var rec = index[key];
    if (!rec) rec = index[key] = { ll: L.latLng(g[0], g[1]), refs: [] };
    rec.refs.push([group, i]);
  }

  /* Layers in view waiting for the user to zoom in, listed in a box on the map. */
  var waiting = Object.create(null), hintBox = null;

  function hint(map, name, n) {
    if (n) waiting[name] = n; else delete waiting[name];
    var names = Object.keys(waiting);
    if (!hintBox) {
      hintBox = L.control({ position: "topright" });
      hintBox.onAdd = function () { return el("div", "planner-hint"); };
    }
    if (!names.length) { if (hintBox._map) hintBox.remove(); return; }
    if (!hintBox._map) hintBox.addTo(map);
    var box = hintBox.getContainer();
    box.textContent = "";
    names.forEach(function (key) {
      var text = hintText.replace("{name}", key).replace("{n}", waiting[key].toLocaleString(locale));
      box.appendChild(el("div", null, text));
    });
  }

  /* An overlay whose features are made when it is first shown (hidden layers cost
   * nothing when the page loads). Columns missing in the spec come from ``base`` (data
   * shared by several layers, such as the villages of every coverage level). Shape
   * layers of many features make only the features in view, and none while more than
   * VIEW_MAX are (a box on the map says so). */
  var Overlay = L.FeatureGroup.extend({
    initialize: function (spec, base) {
      L.FeatureGroup.prototype.initialize.call(this);
      this._spec = spec;
      this._base = base || {};
      this._made = Object.create(null);
      var g = spec.g || this._base.g, k = spec.k || this._base.k;
      if (k && spec.kind !== "shape") for (var i = 0; i < g.length; i++) if (k[i]) register(k[i], g[i], this, i);
    },
    count: function () {
      var spec = this._spec, g = spec.g || this._base.g;
      if (this._count === undefined) this._count = g ? g.length : this.shapes().n;
      return this._count;
    },
    shapes: function () {
      return this._shapes || (this._shapes = decodeShapes(this._spec.c));
    },
    onAdd: function (map) {
      L.FeatureGroup.prototype.onAdd.call(this, map);
      var spec = this._spec;
      if (this._renderer === undefined) this._renderer = this.count() > CANVAS_MIN ? canvasFor(spec.pane) : null;
      if (spec.c && this.count() > VIEW_MAX) {
        map.on("moveend", this._update, this);
        this._update();
        return;
      }
      for (var i = 0, n = this.count(); i < n; i++) this.feature(i);
    },
    onRemove: function (map) {
      map.off("moveend", this._update, this);
      if (this._spec.name) hint(map, this._spec.name, 0);
      L.FeatureGroup.prototype.onRemove.call(this, map);
    },
    /* Feature i, made (and added to the group) when first asked for. */
    feature: function (i) {
      var made = this._made[i];
      if (made) return made;
      var spec = this._spec, base = this._base;
      var t = spec.t || base.t, r = spec.r || base.r;
      var style = spec.styles[spec.s ? spec.s[i] : 0];
      var g = spec.c ? this.shapes().rings(i) : (spec.g || base.g)[i];
      var kind = spec.c ? "rings" : spec.kind;
      var lyr = makeLayer(kind, g, style, r ? r[i] : null, spec.pane, spec.n ? spec.n[i] : null, this._renderer);
      var labels = (base.labels || []).concat(spec.labels || []);
      var values = (base.p ? base.p[i] : []).concat(spec.p ? spec.p[i] : []);
      bind(lyr, t ? t[i] : null, style.label, labels, values);
      this._made[i] = lyr;
      this.addLayer(lyr);
      return lyr;
    },
    _update: function () {
      var map = this._map, shapes = this.shapes(), box = shapes.box, b = map.getBounds().pad(0.25);
      var s = b.getSouth(), w = b.getWest(), no = b.getNorth(), e = b.getEast(), view = [];
      for (var i = 0; i < shapes.n; i++) {
        if (box[4 * i] <= no && box[4 * i + 2] >= s && box[4 * i + 1] <= e && box[4 * i + 3] >= w) view.push(i);
      }
      var keep = Object.create(null), shown = view.length <= VIEW_MAX;
      hint(map, this._spec.name, shown ? 0 : view.length);
      if (shown) view.forEach(function (j) { keep[j] = true; this.feature(j); }, this);
      for (var key in this._made) {
        if (!keep[key]) { this.removeLayer(this._made[key]); delete this._made[key]; }
      }
    }
  });

  function layer(spec, base) {
    return new Overlay(spec, base);
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
    hintText = opts.zoomHint || hintText;
    VIEW_MAX = opts.viewMax || VIEW_MAX;
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
    for (var i = 0; i < rec.refs.length; i++) {
      var group = rec.refs[i][0];
      if (map.hasLayer(group)) { group.feature(rec.refs[i][1]).openPopup(); return; }
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
