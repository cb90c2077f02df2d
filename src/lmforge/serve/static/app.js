// The chat page: keeps the conversation in memory and streams replies from
// /v1/chat/completions (server-sent events), exactly as any OpenAI client would.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { model: null, messages: [], controller: null };

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("api-key").value.trim();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

function addBubble(role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  if (role === "assistant") div.appendChild(renderMarkdown(text)); else div.textContent = text;
  $("messages").appendChild(div);
  div.scrollIntoView({ block: "end" });
  return div;
}

async function loadModel() {
  try {
    const r = await fetch("/v1/models", { headers: headers() });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error ? body.error.message : r.statusText);
    state.model = body.data[0].id;
    $("model-name").textContent = state.model;
    // small models (the quickstart's context is 64 tokens): leave half the window for the conversation
    const context = body.data[0].context_length;
    if (context) $("max-tokens").value = Math.min(parseInt($("max-tokens").value, 10) || 256, Math.floor(context / 2));
  } catch (e) {
    $("model-name").textContent = "(" + e.message + ")";
  }
}

function setBusy(busy) {
  $("send").hidden = busy; $("stop").hidden = !busy; $("input").disabled = busy;
}

async function send(text) {
  if (!state.model) await loadModel();
  state.messages.push({ role: "user", content: text });
  addBubble("user", text);
  const bubble = addBubble("assistant", "");
  bubble.classList.add("streaming");
  const system = $("system").value.trim();
  const payload = {
    model: state.model, stream: true,
    messages: (system ? [{ role: "system", content: system }] : []).concat(state.messages),
    temperature: parseFloat($("temperature").value),
    max_tokens: parseInt($("max-tokens").value, 10) || undefined,
  };
  state.controller = new AbortController();
  setBusy(true);
  let reply = "";
  try {
    const r = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(), body: JSON.stringify(payload), signal: state.controller.signal,
    });
    if (!r.ok) {
      const body = await r.json().catch(() => ({}));
      throw new Error(body.error ? body.error.message : r.status + " " + r.statusText);
    }
    const reader = r.body.getReader(), decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        if (!event.startsWith("data: ")) continue;
        const data = event.slice(6);
        if (data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        const delta = chunk.choices.length ? chunk.choices[0].delta.content : null;
        if (delta) {
          reply += delta;
          bubble.replaceChildren(renderMarkdown(reply));
          bubble.scrollIntoView({ block: "end" });
        }
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") addBubble("error", e.message);
  } finally {
    bubble.classList.remove("streaming");
    bubble.dataset.done = "true";
    state.messages.push({ role: "assistant", content: reply });
    state.controller = null;
    setBusy(false);
    $("input").focus();
  }
}

$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("input").value;
  if (!text.trim() || state.controller) return;
  $("input").value = "";
  send(text);
});
$("input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("composer").requestSubmit(); }
});
$("stop").addEventListener("click", () => state.controller && state.controller.abort());
$("clear").addEventListener("click", () => {
  if (state.controller) state.controller.abort();
  state.messages = []; $("messages").replaceChildren();
});
$("temperature").addEventListener("input", () => { $("temperature-value").textContent = $("temperature").value; });
$("api-key").addEventListener("change", loadModel);
loadModel();
