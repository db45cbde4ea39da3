// The chat page of `wskit serve`: the JSON protocol of /ws (docs/protocol.md), no framework.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  ws: null,
  id: null,
  name: localStorage.getItem("wskit.name") || "",
  rooms: new Map(), // room -> array of log entries
  current: null,
  nextRef: 1,
  pending: new Map(), // ref -> {resolve, reject}
  retry: 0,
};

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws`);
  state.ws = ws;
  ws.onmessage = (event) => receive(JSON.parse(event.data));
  ws.onopen = () => { state.retry = 0; };
  ws.onclose = (event) => {
    setStatus(false, `disconnected (${event.code}); reconnecting…`);
    for (const { reject } of state.pending.values()) reject(new Error("disconnected"));
    state.pending.clear();
    const delay = Math.min(10000, 500 * 2 ** state.retry++) * (0.5 + Math.random() / 2);
    setTimeout(connect, delay);
  };
}

// Sends a command with a ref; resolves with the ack (or presence), rejects with the error.
function request(message) {
  const ref = state.nextRef++;
  return new Promise((resolve, reject) => {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) {
      reject(new Error("not connected"));
      return;
    }
    state.pending.set(ref, { resolve, reject });
    state.ws.send(JSON.stringify({ ...message, ref }));
  });
}

function receive(msg) {
  const waiter = msg.ref !== undefined && state.pending.get(msg.ref);
  if (waiter) state.pending.delete(msg.ref);
  switch (msg.type) {
    case "welcome":
      state.id = msg.id;
      $("my-id").textContent = msg.id;
      setStatus(true, "connected");
      rejoin();
      break;
    case "ack":
    case "presence":
      if (waiter) waiter.resolve(msg);
      if (msg.type === "presence" && msg.group === state.current) showMembers(msg.members);
      break;
    case "error":
      if (waiter) waiter.reject(new Error(`${msg.code}: ${msg.message}`));
      else log(state.current, { error: `${msg.code}: ${msg.message}` });
      break;
    case "message": {
      const data = msg.data && typeof msg.data === "object" ? msg.data : { text: JSON.stringify(msg.data) };
      const who = msg.from === null ? "server" : (data.name || msg.from.slice(0, 8));
      const entry = { who, text: String(data.text ?? JSON.stringify(msg.data)), mine: msg.from === state.id };
      if (msg.group === null) {
        entry.who += " (to you)";
        log(state.current, entry);
      } else {
        log(msg.group, entry);
      }
      break;
    }
  }
}

// After (re)connecting: take the name again and join the rooms again.
async function rejoin() {
  if (state.name) {
    try { await request({ type: "name", name: state.name }); }
    catch (err) { log(state.current, { error: `name: ${err.message}` }); }
  }
  for (const room of state.rooms.keys()) {
    try { await request({ type: "join", group: room }); } catch (_) { /* logged on close */ }
  }
  if (state.rooms.size === 0) join($("room").value.trim() || "lobby");
  refreshPresence();
}

async function join(room) {
  if (!room) return;
  try {
    await request({ type: "join", group: room });
  } catch (err) {
    log(state.current, { error: `join: ${err.message}` });
    return;
  }
  if (!state.rooms.has(room)) {
    state.rooms.set(room, []);
    log(room, { system: `you joined ${room}` });
  }
  select(room);
}

async function leave(room) {
  try { await request({ type: "leave", group: room }); } catch (_) { /* not a member any more */ }
  state.rooms.delete(room);
  if (state.current === room) select(state.rooms.keys().next().value || null);
  renderRooms();
}

function select(room) {
  state.current = room;
  $("room-title").textContent = room ? `# ${room}` : "No room yet: join one";
  $("text").disabled = !room;
  $("send-form").querySelector("button").disabled = !room;
  renderRooms();
  renderLog();
  refreshPresence();
}

function log(room, entry) {
  if (!room || !state.rooms.has(room)) {
    if (entry.error) alertLine(entry.error);
    return;
  }
  entry.at = new Date();
  const entries = state.rooms.get(room);
  entries.push(entry);
  if (entries.length > 500) entries.shift();
  if (room === state.current) renderLog();
}

function alertLine(text) {
  const li = document.createElement("li");
  li.className = "error";
  li.textContent = text;
  $("log").append(li);
}

function renderLog() {
  const list = $("log");
  list.replaceChildren();
  for (const entry of state.rooms.get(state.current) || []) {
    const li = document.createElement("li");
    const when = document.createElement("span");
    when.className = "when";
    when.textContent = entry.at.toLocaleTimeString();
    li.append(when);
    if (entry.system || entry.error) {
      const span = document.createElement("span");
      span.className = entry.error ? "error" : "system";
      span.textContent = entry.system || entry.error;
      li.append(span);
    } else {
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = entry.mine ? `${entry.who} (you)` : entry.who;
      li.append(who, document.createTextNode(entry.text));
    }
    list.append(li);
  }
  list.scrollTop = list.scrollHeight;
}

function renderRooms() {
  const list = $("rooms");
  list.replaceChildren();
  for (const room of state.rooms.keys()) {
    const li = document.createElement("li");
    li.textContent = `# ${room}`;
    if (room === state.current) li.className = "current";
    li.onclick = () => select(room);
    const button = document.createElement("button");
    button.textContent = "leave";
    button.onclick = (event) => { event.stopPropagation(); leave(room); };
    li.append(button);
    list.append(li);
  }
}

function showMembers(members) {
  const list = $("members");
  list.replaceChildren();
  for (const member of members) {
    const li = document.createElement("li");
    li.textContent = member.name || `${member.id.slice(0, 8)}…`;
    if (member.id === state.id) li.className = "me";
    list.append(li);
  }
}

function refreshPresence() {
  if (!state.current) { showMembers([]); return; }
  request({ type: "presence", group: state.current }).catch(() => {});
}

function setStatus(online, text) {
  const status = $("status");
  status.textContent = text;
  status.className = `status ${online ? "online" : "offline"}`;
}

// Live figures: totals from /api/stats, rates from their change between polls.
let last = null;
async function pollStats() {
  try {
    const response = await fetch("/api/stats", { cache: "no-store" });
    const stats = await response.json();
    const now = performance.now();
    $("stat-connections").textContent = stats.connections;
    $("stat-groups").textContent = stats.groups;
    if (last) {
      const seconds = (now - last.at) / 1000;
      $("stat-in").textContent = ((stats.messages_received - last.received) / seconds).toFixed(1);
      $("stat-out").textContent = ((stats.messages_sent - last.sent) / seconds).toFixed(1);
    }
    last = { at: now, received: stats.messages_received, sent: stats.messages_sent };
  } catch (_) {
    last = null;
  }
}

$("name").value = state.name;
$("name-form").onsubmit = async (event) => {
  event.preventDefault();
  const name = $("name").value.trim();
  if (!name) return;
  try {
    await request({ type: "name", name });
    state.name = name;
    localStorage.setItem("wskit.name", name);
    log(state.current, { system: `you are now ${name}` });
    refreshPresence();
  } catch (err) {
    // Once: in the room's log, or as a line of its own outside any room.
    log(state.current, { error: `name: ${err.message}` });
  }
};
$("join-form").onsubmit = (event) => {
  event.preventDefault();
  join($("room").value.trim());
};
$("send-form").onsubmit = async (event) => {
  event.preventDefault();
  const input = $("text");
  const text = input.value;
  if (!text || !state.current) return;
  input.value = "";
  try {
    await request({ type: "publish", group: state.current, data: { text, name: state.name || undefined } });
  } catch (err) {
    log(state.current, { error: `not sent: ${err.message}` });
  }
};

connect();
pollStats();
setInterval(pollStats, 1000);
setInterval(refreshPresence, 3000);
