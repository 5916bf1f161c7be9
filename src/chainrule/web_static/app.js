"use strict";
const $ = (id) => document.getElementById(id);
const result = $("result");

function esc(s) {
  return String(s ?? "").replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
}

function codeBlock(code) {
  const id = "c" + Math.random().toString(36).slice(2);
  return `<pre><button class="copy" data-copy="${id}">copy</button><code id="${id}">${esc(code)}</code></pre>`;
}

async function call(path, body) {
  result.innerHTML = '<p class="hint">working…</p>';
  try {
    const r = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
                                 body: JSON.stringify(body)});
    const data = await r.json();
    if (!r.ok) { showError(data.error || r.statusText); return null; }
    return data;
  } catch (e) { showError(String(e)); return null; }
}

function showError(message) {
  result.innerHTML = `<h2>Error</h2><div class="error" id="error">${esc(message)}</div>`;
}

function shapes() {
  const out = {};
  for (const part of $("shapes").value.split(/[;\s]+/).filter(Boolean)) {
    const [name, dims] = part.split("=");
    out[name] = dims ?? "";
  }
  return out;
}

function modelBody() {
  return {model: $("model").value, convention: $("convention").value};
}

async function backprop() {
  const d = await call("/api/backprop", modelBody());
  if (!d) return;
  const rows = d.gradients.map((g) =>
    `<tr><td><code>${esc(g.name)}</code></td><td class="math">${g.mathml}</td><td class="shape">(${g.shape.map(esc).join(", ")})</td>
     <td>${codeBlock(g.numpy)}</td></tr>`).join("");
  const loops = (d.loops || []).map((l) => {
    const boundary = l.boundary.map((b) => `<li><code>${esc(b.name)} = ${esc(b.text)}</code> (at ${esc(l.var)} = ${esc(b.at)})</li>`);
    const lines = l.lines.concat(l.sums).map((x) => `<li class="math">${x.mathml}</li>`);
    const aliases = Object.entries(l.aliases).map(([a, x]) => `<li>${esc(a)} is ${esc(x)}</li>`);
    return `<section class="loop"><h3>Backwards through <code>${esc(l.header)}</code> (${esc(l.var)} = ${l.values.map(esc).join(", ")})</h3>
      <ul>${boundary.join("")}${lines.join("")}${aliases.join("")}</ul></section>`;
  }).join("");
  result.innerHTML = `<h2>Backprop</h2><p>${esc(d.note)}</p>
    <table id="gradients"><thead><tr><th>adjoint</th><th>formula</th><th>shape</th><th>NumPy</th></tr></thead>
    <tbody>${rows}</tbody></table>${loops}`;
}

function showExplanation(d) {
  const sections = d.steps.map((s, k) => `<section class="step"><h3>${k + 1}. ${esc(s.title)}</h3>${s.html}</section>`);
  result.innerHTML = `<h2 id="explanation-title">${esc(d.heading)}</h2>${sections.join("")}`;
}

async function explainModel() {
  const d = await call("/api/explain", {...modelBody(), target: $("target").value});
  if (d) showExplanation(d);
}

async function explainExpr() {
  const d = await call("/api/explain", {expr: $("expr").value, wrt: $("wrt").value, shapes: shapes()});
  if (d) showExplanation(d);
}

async function check() {
  const d = await call("/api/check", {...modelBody(), claim: $("claim").value});
  if (!d) return;
  result.innerHTML = `<h2>Check</h2><div class="verdict ${d.correct ? "right" : "wrong"}" id="verdict">
    <strong>${d.correct ? "Correct" : "Wrong"}</strong>: <code>${esc($("claim").value)}</code>
    <p id="reason">${esc(d.reason)}</p>${d.hint ? `<p id="hint"><em>Hint:</em> ${esc(d.hint)}</p>` : ""}
    ${d.correct ? "" : `<p>Expected: <code>${esc(d.target)} = ${esc(d.expected)}</code></p>`}</div>`;
}

async function derive() {
  const d = await call("/api/derive", {expr: $("expr").value, wrt: $("wrt").value, shapes: shapes(),
                                        order: Number($("order").value)});
  if (!d) return;
  const math = d.mathml ? `<div class="math" id="derivative">${d.mathml}</div>` : `<pre id="derivative">${esc(d.text)}</pre>`;
  result.innerHTML = `<h2>Derivative</h2>${math}<p><code>${esc(d.text)}</code> — shape (${d.shape.map(esc).join(", ")})</p>
    <h3>Index form</h3><pre>${esc(d.index)}</pre><h3>NumPy</h3>${codeBlock(d.numpy)}
    <p class="hint">Checked against central finite differences on random data: max relative error ${d.check.toExponential(1)}.</p>`;
}

function setMode(model) {
  $("model-pane").hidden = !model;
  $("expr-pane").hidden = model;
  $("mode-model").classList.toggle("active", model);
  $("mode-expr").classList.toggle("active", !model);
  $("mode-model").setAttribute("aria-selected", model);
  $("mode-expr").setAttribute("aria-selected", !model);
}

async function init() {
  const examples = await (await fetch("/api/examples")).json();
  for (const e of examples) {
    const o = document.createElement("option");
    o.value = e.name; o.textContent = e.name; o.dataset.text = e.text;
    $("example").appendChild(o);
  }
  $("example").value = "two-layer";
  $("model").value = examples.find((e) => e.name === "two-layer").text;
  $("example").addEventListener("change", () => { $("model").value = $("example").selectedOptions[0].dataset.text; });
  $("mode-model").addEventListener("click", () => setMode(true));
  $("mode-expr").addEventListener("click", () => setMode(false));
  $("btn-backprop").addEventListener("click", backprop);
  $("btn-explain").addEventListener("click", explainModel);
  $("btn-check").addEventListener("click", check);
  $("btn-derive").addEventListener("click", derive);
  $("btn-explain-expr").addEventListener("click", explainExpr);
  result.addEventListener("click", (ev) => {
    const id = ev.target.dataset && ev.target.dataset.copy;
    if (id && navigator.clipboard) navigator.clipboard.writeText($(id).textContent);
  });
  document.body.dataset.ready = "1";
}

init();
