// The dependency graph page: draws the records around the centre with Cytoscape (vendored,
// canvas only), in rings by number of steps from the centre. Clicking a record moves the
// centre there (history.pushState, so reload and back give the same picture); the "if this
// fails" switch highlights what fails with the centre and the relations that explain it.
// Data comes from the page's JSON endpoint; the side panel and the table are re-rendered by
// the server (same URL) so they never disagree with the picture. No inline scripts or styles:
// the CSP forbids them, element.style (CSSOM) is allowed.
(function () {
  "use strict";
  var canvas = document.querySelector("[data-graph]");
  if (!canvas || typeof window.cytoscape !== "function") return;
  var statusLine = document.querySelector("[data-graph-status]");
  var tooltip = document.querySelector("[data-graph-tooltip]");
  var impactBox = document.getElementById("graph-impact");
  var depthSelect = document.getElementById("graph-depth");
  var nodeInput = document.getElementById("graph-node");
  var cy = null;
  var data = null;
  var generation = 0; // answers to superseded requests are dropped

  var WARN = ["in_maintenance", "in_transition", "retiring"];
  var PLANNED = ["planned", "proposed", "approved"];

  function say(text, isError) {
    statusLine.textContent = text;
    statusLine.classList.toggle("error", !!isError);
  }

  function current() {
    var p = new URLSearchParams(window.location.search);
    return {
      node: p.get("node") || canvas.dataset.node,
      depth: p.get("depth") || canvas.dataset.depth,
      impact: p.get("impact") === "1",
    };
  }

  function pageUrl(state) {
    var p = new URLSearchParams({ node: state.node, depth: state.depth });
    if (state.impact) p.set("impact", "1");
    return canvas.dataset.page + "?" + p.toString();
  }

  function colourOf(type) {
    var swatch = document.querySelector(".graph-legend .sw.t-" + CSS.escape(type));
    return swatch ? window.getComputedStyle(swatch).backgroundColor : "#6e7781";
  }

  // Rings around the centre, one band per step. A band holds as many records as fit at its
  // radius and grows outwards when a step has more; records are ordered by the direction of
  // the record they were reached from, so neighbourhoods stay together.
  function positions(nodes) {
    var levels = [];
    nodes.forEach(function (n) { (levels[n.distance] = levels[n.distance] || []).push(n); });
    var pos = {};
    var angle = {};
    var spacing = 62;
    var radius = 0;
    (levels[0] || []).forEach(function (n) { pos[n.id] = { x: 0, y: 0 }; angle[n.id] = 0; });
    for (var d = 1; d < levels.length; d++) {
      var level = (levels[d] || []).slice();
      if (!level.length) continue;
      level.sort(function (a, b) {
        return (angle[a.parent] || 0) - (angle[b.parent] || 0) ||
          a.type.localeCompare(b.type) || a.name.localeCompare(b.name);
      });
      radius += d === 1 ? 150 : 170; // a wider gap between steps than between a step's rings
      var i = 0;
      while (i < level.length) {
        var capacity = Math.max(6, Math.floor((2 * Math.PI * radius) / spacing));
        var ring = level.slice(i, i + capacity);
        var start = angle[ring[0].parent] || 0;
        var stagger = (i / capacity) % 2 ? Math.PI / ring.length : 0;
        ring.forEach(function (n, k) {
          var a = (start + stagger + (2 * Math.PI * k) / ring.length) % (2 * Math.PI);
          angle[n.id] = a;
          pos[n.id] = { x: radius * Math.cos(a), y: radius * Math.sin(a) };
        });
        i += capacity;
        if (i < level.length) radius += 75;
      }
    }
    return pos;
  }

  function statusClass(n) {
    if (WARN.indexOf(n.status) >= 0) return "warn";
    if (PLANNED.indexOf(n.status) >= 0) return "planned";
    if (n.status === "retired") return "retired";
    return "";
  }

  function styles() {
    return [
      { selector: "node", style: {
        "background-color": "data(colour)", label: "data(name)", color: "#1b1f24",
        "font-size": 10, "text-valign": "bottom", "text-margin-y": 3, width: 18, height: 18,
        "text-background-color": "#ffffff", "text-background-opacity": 0.8,
        "text-background-padding": 1, "text-wrap": "ellipsis", "text-max-width": 130,
        "min-zoomed-font-size": 7, "border-width": 1.5, "border-color": "#ffffff" } },
      { selector: "node[kind = 'service']", style: { shape: "round-rectangle", width: 28, height: 18 } },
      { selector: "node.warn", style: { "border-width": 3, "border-style": "dashed", "border-color": "#b7791f" } },
      { selector: "node.planned", style: { "background-opacity": 0.45, "border-width": 2, "border-style": "dotted", "border-color": "#57606a" } },
      { selector: "node.retired", style: { "background-color": "#c5ccd3", opacity: 0.75 } },
      { selector: "node.centre", style: {
        width: 34, height: 34, "font-size": 13, "font-weight": "bold", "border-width": 3,
        "border-color": "#102a43", "min-zoomed-font-size": 0, "z-index": 20 } },
      { selector: "node[kind = 'service'].centre", style: { width: 48, height: 30 } },
      { selector: "edge", style: {
        width: 1.2, "line-color": "#a3adb8", "target-arrow-color": "#a3adb8",
        "target-arrow-shape": "triangle", "arrow-scale": 0.8, "curve-style": "straight", opacity: 0.85 } },
      { selector: "edge[!propagates]", style: { "line-style": "dashed" } },
      { selector: "edge.dense", style: { opacity: 0.45 } },
      { selector: "node.faded", style: { opacity: 0.2 } },
      { selector: "edge.faded", style: { opacity: 0.1 } },
      { selector: "node.hit", style: { "border-width": 3, "border-style": "solid", "border-color": "#d1242f", "z-index": 15 } },
      { selector: "edge.hit", style: { width: 2.8, "line-color": "#d1242f", "target-arrow-color": "#d1242f", opacity: 1, "z-index": 12 } },
      { selector: "edge.near", style: { width: 2.2, "line-color": "#102a43", "target-arrow-color": "#102a43", opacity: 1, "z-index": 14 } },
      { selector: "node.hover", style: { "border-width": 3, "border-style": "solid", "border-color": "#c96a00", opacity: 1, "min-zoomed-font-size": 0, "z-index": 30 } },
    ];
  }

  function draw() {
    var pos = positions(data.nodes);
    var elements = data.nodes.map(function (n) {
      return {
        group: "nodes",
        data: { id: n.id, name: n.name, kind: n.kind, type: n.type, label: n.type_label,
                status: n.status_label, url: n.url, impacted: n.impacted, colour: colourOf(n.type) },
        position: pos[n.id],
        classes: statusClass(n) + (n.distance === 0 ? " centre" : ""),
      };
    }).concat(data.edges.map(function (e) {
      return { group: "edges", data: { id: e.id, source: e.source, target: e.target,
                                       label: e.label, propagates: e.propagates, impact: e.impact } };
    }));
    tooltip.hidden = true;
    var big = elements.length > 700;
    var dense = data.edges.length > 250;
    if (cy) cy.destroy();
    cy = window.cytoscape({
      container: canvas,
      elements: elements,
      style: styles(),
      layout: { name: "preset", fit: true, padding: 30 },
      minZoom: 0.05,
      maxZoom: 4,
      boxSelectionEnabled: false,
      textureOnViewport: big,
      hideEdgesOnViewport: big,
    });
    cy.on("tap", "node", function (ev) {
      var id = ev.target.id();
      if (id === data.centre.id) return;
      go({ node: id, depth: depthSelect.value, impact: impactBox.checked }, true);
    });
    cy.on("mouseover", "node", function (ev) { hover(ev.target, true); });
    cy.on("mouseout", "node", function (ev) { hover(ev.target, false); });
    cy.on("viewport", function () { tooltip.hidden = true; });
    // Keep the centre's name readable however far the picture is zoomed out.
    cy.on("zoom", scaleCentre);
    if (dense) cy.edges().addClass("dense");
    scaleCentre();
    highlight(impactBox.checked);
    var capped = data.capped ? " Only the nearest " + data.cap + " are shown." : "";
    say(data.nodes.length + " records, " + data.edges.length + " relations." + capped);
    canvas.dataset.node = data.centre.id;
    canvas.cy = cy; // for the browser test and the console; not a global
    canvas.dataset.ready = "true";
  }

  function scaleCentre() {
    var scale = Math.max(1, 0.9 / cy.zoom());
    cy.nodes(".centre").style({ "font-size": 13 * scale, "text-margin-y": 3 * scale, "text-max-width": 160 * scale });
  }

  function hover(node, on) {
    node.toggleClass("hover", on);
    node.connectedEdges().toggleClass("near", on);
    if (!on) { tooltip.hidden = true; return; }
    var d = node.data();
    tooltip.replaceChildren();
    var title = document.createElement("strong");
    title.textContent = d.name;
    tooltip.appendChild(title);
    tooltip.appendChild(document.createTextNode(d.label + " · " + d.status +
      (d.impacted ? " · fails with the centre" : "") +
      (d.id === data.centre.id ? "" : " · click to centre here")));
    var p = node.renderedPosition();
    var box = canvas.getBoundingClientRect();
    tooltip.hidden = false;
    var left = Math.min(p.x + 14, box.width - tooltip.offsetWidth - 6);
    tooltip.style.left = Math.max(6, left) + "px";
    tooltip.style.top = Math.max(6, p.y + 14) + "px";
  }

  function highlight(on) {
    if (!cy) return;
    cy.batch(function () {
      cy.elements().removeClass("faded hit");
      if (!on) return;
      cy.nodes().forEach(function (n) {
        if (n.data("impacted")) n.addClass("hit");
        else if (n.id() !== data.centre.id) n.addClass("faded");
      });
      cy.edges().forEach(function (e) { e.addClass(e.data("impact") ? "hit" : "faded"); });
    });
  }

  // The side panel, the table and the headings come from the server page of the same state.
  function swapPage(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    ["graph-info", "graph-table"].forEach(function (id) {
      var fresh = doc.getElementById(id);
      var here = document.getElementById(id);
      if (fresh && here) here.replaceChildren.apply(here, Array.from(fresh.childNodes).map(function (n) {
        return document.adoptNode(n);
      }));
    });
    var title = doc.getElementById("graph-title");
    if (title) document.getElementById("graph-title").textContent = title.textContent;
    var freshCanvas = doc.querySelector("[data-graph]");
    if (freshCanvas) canvas.setAttribute("aria-label", freshCanvas.getAttribute("aria-label"));
    document.title = doc.title;
  }

  function fetchOk(url, kind) {
    return window.fetch(url, { headers: { Accept: kind === "json" ? "application/json" : "text/html" },
                               credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return kind === "json" ? r.json() : r.text();
      });
  }

  function load(state, withPage) {
    var mine = ++generation;
    canvas.dataset.ready = "false";
    say("Loading the graph…");
    var query = new URLSearchParams({ node: state.node, depth: state.depth });
    var requests = [fetchOk(canvas.dataset.src + "?" + query.toString(), "json")];
    if (withPage) requests.push(fetchOk(pageUrl(state), "text"));
    Promise.all(requests).then(function (answers) {
      if (mine !== generation) return;
      if (answers[1]) swapPage(answers[1]);
      data = answers[0];
      nodeInput.value = state.node;
      depthSelect.value = String(state.depth);
      impactBox.checked = state.impact;
      draw();
    }).catch(function (err) {
      if (mine !== generation) return;
      say("The graph could not be loaded (" + err.message + "). The table below still lists the records.", true);
    });
  }

  function go(state, push) {
    if (push) window.history.pushState(null, "", pageUrl(state));
    load(state, true);
  }

  depthSelect.addEventListener("change", function () {
    go({ node: canvas.dataset.node, depth: depthSelect.value, impact: impactBox.checked }, true);
  });
  impactBox.addEventListener("change", function () {
    var state = { node: canvas.dataset.node, depth: depthSelect.value, impact: impactBox.checked };
    window.history.replaceState(null, "", pageUrl(state));
    highlight(state.impact);
  });
  document.addEventListener("click", function (ev) {
    var link = ev.target.closest && ev.target.closest("[data-graph-centre]");
    if (link && !ev.ctrlKey && !ev.metaKey && !ev.shiftKey && ev.button === 0) {
      ev.preventDefault();
      go({ node: link.dataset.graphCentre, depth: depthSelect.value, impact: impactBox.checked }, true);
      canvas.scrollIntoView({ block: "nearest" });
      return;
    }
    if (!cy) return;
    if (ev.target.closest("[data-graph-fit]")) cy.fit(undefined, 30);
    var zoom = ev.target.closest("[data-graph-zoom]");
    if (zoom) {
      cy.zoom({ level: cy.zoom() * parseFloat(zoom.dataset.graphZoom),
                renderedPosition: { x: canvas.clientWidth / 2, y: canvas.clientHeight / 2 } });
    }
  });
  window.addEventListener("popstate", function () { load(current(), true); });

  load(current(), false);
})();
