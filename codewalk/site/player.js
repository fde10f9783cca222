// codewalk's trace player: steps the JSON embedded in the page (#player-data), computed in Python.
// Every string from the trace goes into the page through textContent, never as markup.
(function () {
  "use strict";
  var doc = JSON.parse(document.getElementById("player-data").textContent);
  var last = 0;
  doc.engines.forEach(function (e) { last = Math.max(last, e.frames.length - 1); });
  var current = 0;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function fill(root, name, items, empty) {
    var part = root.querySelector('[data-part="' + name + '"]');
    if (!part) return;
    part.textContent = "";
    if (!items || items.length === 0) {
      if (empty) part.appendChild(el("li", "none", empty));
      return;
    }
    items.forEach(function (item) { part.appendChild(el("li", null, item)); });
  }

  function functions(root, list) {
    var part = root.querySelector('[data-part="functions"]');
    part.textContent = "";
    list.forEach(function (f) {
      var li = el("li");
      var target = el(f.href ? "a" : "span", "fn", f.name);
      if (f.href) target.setAttribute("href", f.href);
      li.appendChild(target);
      part.appendChild(li);
    });
  }

  function blocks(root, frame) {
    var part = root.querySelector('[data-part="blocks"]');
    part.textContent = "";
    if (frame.counts) {
      var ul = el("ul", "counts");
      frame.counts.forEach(function (c) { ul.appendChild(el("li", null, c)); });
      part.appendChild(ul);
      return;
    }
    var b = frame.blocks;
    var line = "used " + b.used + " · free " + b.free + " · reusable " + b.reusable + " · total " + b.total;
    if (b.future_free) line += " · freed after copy " + b.future_free;
    part.appendChild(el("p", "usage", line));
    var bar = el("div", "bar");
    bar.setAttribute("role", "img");
    bar.setAttribute("aria-label", line);
    [["used", b.used], ["reusable", b.reusable], ["free", b.free]].forEach(function (seg) {
      var s = el("span", "seg " + seg[0]);
      s.style.width = (b.total > 0 ? (100 * seg[1]) / b.total : 0) + "%";
      s.title = seg[0] + " " + seg[1];
      bar.appendChild(s);
    });
    part.appendChild(bar);
    var legend = el("p", "legend");
    ["used", "reusable", "free"].forEach(function (name) {
      var key = el("span", "key");
      key.appendChild(el("span", "swatch " + name));
      key.appendChild(document.createTextNode(name));
      legend.appendChild(key);
    });
    part.appendChild(legend);
  }

  function treeNode(n) {
    var li = el("li", "node" + (n.reusable ? " reusable" : "") + (n.on_device ? "" : " host"));
    li.appendChild(el("span", "bid", "#" + n.id));
    li.appendChild(el("span", "tokens", "[" + n.tokens + "]"));
    li.appendChild(el("span", "refs", "refs: " + (n.active.length ? n.active.join(", ") : "-")));
    if (n.swapped.length) li.appendChild(el("span", "swapped", "swapped: " + n.swapped.join(", ")));
    if (n.reusable) li.appendChild(el("span", "tag", "reusable"));
    if (!n.on_device) li.appendChild(el("span", "tag", "on host"));
    if (n.children.length) {
      var ul = el("ul");
      n.children.forEach(function (c) { ul.appendChild(treeNode(c)); });
      li.appendChild(ul);
    }
    return li;
  }

  function tree(root, nodes) {
    var part = root.querySelector('[data-part="tree"]');
    part.textContent = "";
    var top = el("ul", "tree");
    var rootItem = el("li", "root", "root");
    if (nodes.length) {
      var ul = el("ul");
      nodes.forEach(function (n) { ul.appendChild(treeNode(n)); });
      rootItem.appendChild(ul);
    } else {
      rootItem.appendChild(el("span", "none", " (no cached blocks)"));
    }
    top.appendChild(rootItem);
    part.appendChild(top);
  }

  function renderEngine(engine, section, i) {
    var ended = section.querySelector('[data-part="ended"]');
    var frame = engine.frames[Math.min(i, engine.frames.length - 1)];
    ended.hidden = i < engine.frames.length;
    ended.textContent = ended.hidden ? "" :
      "This engine's trace ended at " + engine.frames[engine.frames.length - 1].label + "; its last state:";
    var differs = section.querySelector('[data-part="differs"]');
    differs.hidden = !frame.differs;
    if (frame.differs) {
      differs.className = "differs" + (frame.differs.length ? " yes" : "");
      differs.textContent = frame.differs.length ?
        "Differs from the core here: " + frame.differs.join(", ") : "Same as the core at this step.";
    }
    if (frame.queues) {
      fill(section, "waiting", frame.queues.waiting, "-");
      fill(section, "running", frame.queues.running, "-");
      fill(section, "swapped", frame.queues.swapped, "-");
    }
    blocks(section, frame);
    fill(section, "hits", frame.hits, "none");
    fill(section, "swapouts", frame.swapouts, "none");
    fill(section, "recomputes", frame.recomputes, "none");
    fill(section, "activity", frame.activity, "none");
    var result = section.querySelector('[data-part="result"]');
    if (result) result.textContent = frame.result === null ? "" : frame.result;
    functions(section, frame.functions);
    tree(section, frame.tree);
  }

  function show(i, fromHash) {
    current = Math.max(0, Math.min(last, i));
    var first = doc.engines[0].frames[Math.min(current, doc.engines[0].frames.length - 1)];
    document.getElementById("step").textContent = String(current);
    document.getElementById("caption").textContent = first.caption || first.label;
    document.getElementById("prev").setAttribute("aria-disabled", String(current === 0));
    document.getElementById("next").setAttribute("aria-disabled", String(current === last));
    var sections = document.querySelectorAll("section.engine");
    doc.engines.forEach(function (engine, k) { renderEngine(engine, sections[k], current); });
    if (!fromHash && location.hash !== "#step=" + current) {
      history.replaceState(null, "", "#step=" + current);
    }
  }

  function fromHash() {
    var m = /^#(?:step[=-]?)?(\d+)$/.exec(location.hash);
    return m ? parseInt(m[1], 10) : 0;
  }

  document.getElementById("next").addEventListener("click", function () { show(current + 1); });
  document.getElementById("prev").addEventListener("click", function () { show(current - 1); });
  document.addEventListener("keydown", function (ev) {
    if (ev.altKey || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
    var t = ev.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    var moves = { ArrowRight: current + 1, ArrowLeft: current - 1, Home: 0, End: last };
    if (!(ev.key in moves)) return;
    ev.preventDefault();
    show(moves[ev.key]);
  });
  window.addEventListener("hashchange", function () { show(fromHash(), true); });
  show(fromHash(), true);
})();
