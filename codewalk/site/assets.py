"""The site's stylesheet and script, written here (no framework, nothing fetched)."""

from __future__ import annotations

import json

CSS = """
:root { --fg: #1d2330; --dim: #5a6473; --line: #dde3ee; --note: #fbf7ec; --accent: #2f5fa7; }
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; color: var(--fg); margin: 0; line-height: 1.45; }
header.top { padding: .6rem 1rem; border-bottom: 1px solid var(--line); background: #f5f7fb; }
header.top a { color: var(--accent); }
main { padding: .5rem 1rem 3rem; max-width: 90rem; }
h1 { font-size: 1.3rem; margin: .4rem 0; } h2 { font-size: 1.1rem; margin-top: 1.6rem; }
a { color: var(--accent); }
.dim, .where { color: var(--dim); font-size: .9rem; }
.code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .82rem;
        border: 1px solid var(--line); border-radius: 6px; overflow-x: auto; }
.code { counter-reset: ln; }
.code > div { white-space: pre; display: block; position: relative; padding-left: 4.2em; min-height: 1.3em; }
.code > div::before { counter-increment: ln; content: counter(ln); position: absolute; left: 0; width: 3.4em;
                   text-align: right; color: #9aa3b2; user-select: none; }
.code > div:target { background: #fff3b0; }
.code a.x { color: inherit; text-decoration: underline dotted #8aa0c8; }
.code a.x:hover, .code a.x:focus { background: #e3ecfb; outline: 1px solid #8aa0c8; }
.code a.d { color: inherit; font-weight: bold; text-decoration: none; border-bottom: 1px solid #c9a400; }
aside.note { white-space: normal; font-family: system-ui, sans-serif; background: var(--note);
             border-left: 4px solid #d9a404; margin: .3rem 0 .5rem; padding: .3rem .8rem; font-size: .9rem; }
aside.note .title { font-weight: bold; }
aside.note .drift-ok { color: #2d7a3a; } aside.note .drift-drifted { color: #a04a00; font-weight: bold; }
aside.note details { margin: .2rem 0; } aside.note p { margin: .3rem 0; }
section.sym { border-top: 1px solid var(--line); margin-top: 1.2rem; padding-top: .4rem; }
section.sym h3 { font-size: 1rem; margin: .3rem 0; font-family: ui-monospace, monospace; word-break: break-all; }
section.sym .sig { font-family: ui-monospace, monospace; font-size: .85rem; background: #f5f7fb;
                   padding: .2rem .4rem; white-space: pre-wrap; word-break: break-word; }
section.sym ul { margin: .2rem 0; padding-left: 1.3rem; font-size: .9rem; }
section.sym svg { max-width: 100%; height: auto; display: block; margin: .4rem 0; }
.tip { position: absolute; z-index: 10; left: 4.2em; top: 1.35em; max-width: 48rem; white-space: normal;
       background: #1d2330; color: #eef2f8; font-family: system-ui, sans-serif; font-size: .82rem;
       border-radius: 5px; padding: .35rem .6rem; box-shadow: 0 2px 8px rgba(0,0,0,.3); }
.tip a { color: #9cc3ff; } .tip code { font-family: ui-monospace, monospace; white-space: pre-wrap; }
.tip .nt { color: #ffd866; }
input[type=search] { font-size: 1rem; padding: .4rem .6rem; width: min(36rem, 100%); }
#results li { margin: .15rem 0; } #results li.near { list-style: none; margin-top: .6rem; } #results .kind { color: var(--dim); font-size: .85rem; }
ul.files { columns: 2 28rem; font-family: ui-monospace, monospace; font-size: .85rem; }
@media (max-width: 40rem) {
  main { padding: .4rem .5rem 2rem; }
  .code { font-size: .75rem; }
  .code > div { white-space: pre-wrap; word-break: break-all; padding-left: 3.2em; }
  .code > div::before { width: 2.6em; }
  ul.files { columns: 1; }
}
@media print {
  header.top, .tip, #search, script { display: none !important; }
  .code { border: none; overflow: visible; font-size: 8pt; }
  .code > div { white-space: pre-wrap; word-break: break-all; }
  a.x { text-decoration: none; }
  aside.note details > *:not(summary) { display: block; }
  section.sym { break-inside: avoid; }
}
"""

# Tooltips: one element, moved next to the link being hovered or focused, so keyboard users tab
# straight into its override links. Search: filters the precomputed index (a <script> file, so it
# works from file://) the way `show` finds and ranks names.
JS = r"""
(function () {
  'use strict';
  var tip = null, hideTimer = null;
  function text(s) { return document.createTextNode(s); }
  function el(tag, cls, kids) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    (kids || []).forEach(function (k) { e.appendChild(typeof k === 'string' ? text(k) : k); });
    return e;
  }
  function link(label, href) { var a = el('a', '', [label]); a.href = href; return a; }
  function showTip(a) {
    var table = window.CW_T, t = table && table[+a.getAttribute('data-t')];
    if (!t) return;
    clearTimeout(hideTimer);
    if (!tip) {
      tip = el('span', 'tip');
      tip.setAttribute('role', 'tooltip');
      tip.id = 'cw-tip';
      tip.addEventListener('mouseenter', function () { clearTimeout(hideTimer); });
      tip.addEventListener('mouseleave', scheduleHide);
      tip.addEventListener('focusout', function (ev) { if (!tip.contains(ev.relatedTarget)) scheduleHide(); });
    }
    while (tip.firstChild) tip.removeChild(tip.firstChild);
    tip.appendChild(el('strong', '', [t[1]]));
    if (t[2]) { tip.appendChild(el('br')); tip.appendChild(el('code', '', [t[2]])); }
    if (t[3]) { tip.appendChild(el('br')); tip.appendChild(el('span', 'nt', ['note: ' + t[3]])); }
    if (t[4] && t[4].length) {
      tip.appendChild(el('br'));
      tip.appendChild(text(t[5] ? 'overrides: ' : 'also: '));
      t[4].forEach(function (o, i) { if (i) tip.appendChild(text(', ')); tip.appendChild(link(o[0], o[1])); });
    }
    a.setAttribute('aria-describedby', 'cw-tip');
    var line = a.closest('.code > div') || a.parentNode;
    line.appendChild(tip);
    tip.style.left = Math.max(0, a.offsetLeft) + 'px';  // under the link, so the pointer can reach it
    tip.style.display = '';
  }
  function scheduleHide() {
    clearTimeout(hideTimer);
    hideTimer = setTimeout(function () { if (tip) tip.style.display = 'none'; }, 250);
  }
  document.addEventListener('mouseover', function (ev) {
    var a = ev.target.closest && ev.target.closest('a[data-t]');
    if (a) showTip(a);
  });
  document.addEventListener('mouseout', function (ev) {
    var a = ev.target.closest && ev.target.closest('a[data-t]');
    if (a) scheduleHide();
  });
  document.addEventListener('focusin', function (ev) {
    var a = ev.target.closest && ev.target.closest('a[data-t]');
    if (a) showTip(a); else if (tip && !tip.contains(ev.target)) scheduleHide();
  });
  document.addEventListener('keydown', function (ev) {
    if (ev.key === 'Escape' && tip) tip.style.display = 'none';
  });

  var box = document.getElementById('search');
  if (box && window.CW_SEARCH) {
    var out = document.getElementById('results'), idx = window.CW_SEARCH;
    function find(q) {
      var scoped = q.indexOf('::') >= 0 || q.indexOf('.') >= 0, exact = [], near = [];
      var cq = q.split('.').join('::'), low = q.toLowerCase();
      idx.items.forEach(function (it) {
        var name = it[0], qn = it[1];
        var hit = scoped ? (qn === q || qn === cq || qn.endsWith('.' + q) || qn.endsWith('::' + cq))
                         : name === q;
        if (hit) exact.push(it);
        else if (low.length > 1 && (scoped ? qn : name).toLowerCase().indexOf(low) >= 0) near.push(it);
      });
      function byRank(a, b) { return a[3] - b[3] || a[5] - b[5]; }
      exact.sort(byRank);
      near.sort(function (a, b) { return a[0].length - b[0].length || byRank(a, b); });
      return {exact: exact.slice(0, 60), near: near.slice(0, Math.max(0, 60 - exact.length))};
    }
    function render() {
      var q = box.value.trim();
      while (out.firstChild) out.removeChild(out.firstChild);
      if (!q) return;
      var found = find(q);
      if (!found.exact.length) out.appendChild(el('li', 'dim', ['no symbol named ' + q]));
      if (found.near.length) found.exact.push(null);
      found.exact.concat(found.near).forEach(function (it) {
        if (it === null) { out.appendChild(el('li', 'dim near', ['names containing ' + q + ':'])); return; }
        var li = el('li');
        li.appendChild(link(it[1], it[4]));
        li.appendChild(text(' '));
        li.appendChild(el('span', 'kind', [it[2] + ' \u00b7 ' + idx.sources[it[3]] + ' \u00b7 ' + it[4].split('#')[0].replace(/\.html$/, '')]));
        out.appendChild(li);
      });
    }
    box.addEventListener('input', render);
    if (box.value) render();
  }
})();
"""


def script_json(value: object) -> str:
    """JSON safe inside a <script> element: no `</script>`, `<!--` or line separators can end it."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
