// One WebSocket per page. The page's scripts subscribe to message types on it
// (labStream.on("run.metrics", fn)) and to its (re)connections (labStream.onOpen(fn), called
// with true on a reconnect, so that they re-read over HTTP what they missed). It reconnects
// with a growing delay; a stream closed with code 4403 (not allowed) or 4404 (no such
// stream) stays closed and says why.
window.labStream = (function () {
  "use strict";
  const handlers = {};
  const openers = [];
  const state = { state: "idle", messages: 0, socket: null, opened: 0 };
  let path = null;
  let retryDelay = 1000;

  function setState(text) {
    state.state = text;
    const el = document.getElementById("live-state");
    if (el) el.textContent = text;
  }

  function on(type, fn) {
    (handlers[type] = handlers[type] || []).push(fn);
  }

  function onOpen(fn) {
    openers.push(fn);
  }

  function dispatch(msg) {
    state.messages += 1;
    for (const fn of handlers[msg.type] || []) {
      try { fn(msg); } catch (err) { console.error("handling", msg.type, err); }
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + path);
    state.socket = socket;
    socket.onopen = () => {
      retryDelay = 1000;
      const reconnected = state.opened > 0;
      state.opened += 1;
      setState("live");
      for (const fn of openers) {
        try { fn(reconnected); } catch (err) { console.error("on open", err); }
      }
    };
    socket.onmessage = (event) => dispatch(JSON.parse(event.data));
    socket.onclose = (event) => {
      if (event.code === 4403) { setState("stream refused: this page is no longer yours to view (log in again, or ask for a new share link)"); return; }
      if (event.code === 4404) { setState("no such stream"); return; }
      setState("reconnecting…");
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 10000);
    };
  }

  function open(streamPath) {
    if (path !== null) return; // one stream per page
    path = streamPath;
    setState("connecting…");
    connect();
  }

  return { on, onOpen, open, state };
})();
