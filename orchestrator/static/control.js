/* The control page: the production crew runs the show from here, through the JSON API only.
 *
 * Live state comes from the show's WebSocket (a full state on every change and about once a
 * second, plus every audit event); while it is down the page polls the same state over HTTP.
 * Tests read what the page knows through window.controlPage.
 */
"use strict";
(() => {
  const SETTINGS = window.CONTROL_SETTINGS || {};
  const SHOW = SETTINGS.show || decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
  const API = `/api/shows/${encodeURIComponent(SHOW)}`;
  const SLOTS = ["main", "tag1", "tag2"];
  const MAX_ROWS = 100; // product rows rendered at once (the filter narrows the rest)
  const MAX_EVENTS = 500;
  const POLL_FRAME_MS = 330; // studio previews: ~3 fps each
  const MAX_FRAME_FETCHES = 2; // in flight at once: the browser has 6 connections per host to share

  const $ = (id) => document.getElementById(id);

  /** Everything the page knows; tests read it. */
  const ctl = {
    show: SHOW,
    me: null, // {name, role}
    bearer: null, // only when the server has no session login: the token is then sent as a header
    csrf: null, // the session's CSRF token (X-CSRF-Token on changes sent with the cookie)
    state: null,
    stateAt: 0,
    ws: null,
    wsOpen: false,
    wsMessages: 0,
    wsConnects: 0,
    contactAt: 0, // Date.now() of the server's last answer: a socket message or a polled state
    lostSince: 0, // while the server does not answer: contactAt when it stopped (0: it answers)
    products: [],
    productById: new Map(),
    selected: null,
    rundown: {},
    rundownAvailable: true,
    links: new Map(),
    events: [],
    toasts: [],
    frames: {}, // source -> frames shown
    errors: [], // [status, path] of failed calls, newest last
    keysArmed: true, // switching keys work (off while a text field has the focus)
    beeps: 0, // alarm beeps played
    pgmLabel: "", // what the program monitor's label says (follows the picture, not the command)
  };
  window.controlPage = ctl;
  /** The credentials of a call (monitor.js sends SDP with them). */
  ctl.authHeaders = (method) => (ctl.bearer ? { Authorization: "Bearer " + ctl.bearer } : ctl.csrf && method !== "GET" ? { "X-CSRF-Token": ctl.csrf } : {});

  // ---------------------------------------------------------------- helpers
  function h(tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(e.dataset, v);
      else if (k === "value") e.value = v;
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid == null || kid === false) continue;
      e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return e;
  }
  /** A bilingual label: Chinese first, English smaller. */
  const bi = (zh, en) => [zh + " ", h("span", { class: "en" }, en)];
  const yuan = window.priceText;  // static/price.js: as the program's card writes it
  const pad = (n) => String(n).padStart(2, "0");
  /** Times in the show's time zone (config shows[].timezone), like the alarms and the CSV. */
  let zoneFormat = null;
  let zoneName = "";
  function timeFormat() {
    const zone = (ctl.state && ctl.state.timezone) || "";
    if (zone !== zoneName || !zoneFormat) {
      zoneName = zone;
      try { zoneFormat = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", ...(zone ? { timeZone: zone } : {}) }); }
      catch (_) { zoneFormat = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }); }
    }
    return zoneFormat;
  }
  const hms = (t) => timeFormat().format(new Date(t * 1000));
  const mmss = (s) => `${pad(Math.floor(s / 60))}:${pad(Math.floor(s % 60))}`;
  const studioName = (s) => (s ? s.name || s.name_en || s.id : "—");
  const studioById = (id) => (ctl.state && (ctl.state.studios || []).find((s) => s.id === id)) || null;
  const productName = (id) => { const p = ctl.productById.get(id); return p ? p.name || p.name_en || id : id; };
  const isDirector = () => !ctl.me || ctl.me.role === "director";
  /** Join links, QR codes, kick and reissue: the director's and the links role's business. */
  const handlesLinks = () => !ctl.me || ctl.me.role === "director" || ctl.me.role === "links";
  const debounce = (fn, ms) => { let t; return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); }; };

  function toast(message, kind = "info", ms = 4200) {
    const node = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
    $("toasts").append(node);
    ctl.toasts.push({ kind, message: node.textContent, at: Date.now() });
    if (ctl.toasts.length > 50) ctl.toasts.shift();
    while ($("toasts").children.length > 5) $("toasts").firstChild.remove();
    setTimeout(() => node.remove(), ms);
  }

  // ---------------------------------------------------------------- the API
  async function api(method, path, body, opts = {}) {
    const headers = {};
    let payload;
    if (opts.raw !== undefined) {
      payload = opts.raw;
      headers["Content-Type"] = opts.contentType;
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers["Content-Type"] = "application/json";
    }
    if (ctl.bearer) headers.Authorization = "Bearer " + ctl.bearer;
    else if (ctl.csrf && method !== "GET") headers["X-CSRF-Token"] = ctl.csrf; // the session's, from /api/login or /api/me
    let res;
    try {
      res = await fetch(path, { method, headers, body: payload, credentials: "same-origin", cache: "no-store" });
    } catch (e) {
      return { ok: false, status: 0, data: { error: "网络错误 network error: " + e.message } };
    }
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = { error: text.slice(0, 200) }; }
    if (res.ok && res.headers.get("X-CSRF-Token")) ctl.csrf = res.headers.get("X-CSRF-Token");
    if (!res.ok) {
      ctl.errors.push([res.status, method + " " + path]);
      if (ctl.errors.length > 100) ctl.errors.shift();
      if (res.status === 401 && ctl.me && !opts.noSignout) sessionLost(data);
    }
    return { ok: res.ok, status: res.status, data };
  }

  /** The words for a failed call: aiohttp's own 404 means the server has no such endpoint yet. */
  function failure(r) {
    const msg = (r.data && r.data.error) || `HTTP ${r.status}`;
    if (r.status === 404 && (msg === "Not Found" || msg === "HTTP 404")) return "服务器暂不支持此功能 Not available on this server (404)";
    if (r.status === 403) return "权限不足 Not allowed: " + msg;
    if (r.status === 503) return "状态存储不可用，未做更改 Store unavailable, nothing changed";
    return msg;
  }

  /** Call the API for a crew action; a failure becomes an error toast. */
  async function act(method, path, body, opts = {}) {
    const btn = opts.button;
    if (btn) btn.classList.add("busy");
    try {
      const r = await api(method, path, body, opts);
      if (!r.ok && !(opts.handle && opts.handle.includes(r.status))) toast((opts.what ? opts.what + ": " : "") + failure(r), "error");
      else if (r.ok && opts.done) toast(opts.done, "ok", 2200);
      return r;
    } finally {
      if (btn) btn.classList.remove("busy");
    }
  }

  // ---------------------------------------------------------------- sign-in
  let signinMode = "password";
  function showSignin(message) {
    document.body.classList.add("signed-out");
    $("app").hidden = true;
    $("signin").hidden = false;
    $("signin-show").textContent = (SETTINGS.title || "") + (SHOW ? `  ·  ${SHOW}` : "");
    $("signin-error").textContent = message || "";
    setTimeout(() => (signinMode === "token" ? $("signin-token") : $("signin-name")).focus(), 0);
  }
  function setSigninMode(mode) {
    signinMode = mode;
    for (const b of document.querySelectorAll("#signin .seg-btn")) b.classList.toggle("active", b.dataset.mode === mode);
    document.querySelector("#signin .mode-password").hidden = mode !== "password";
    document.querySelector("#signin .mode-token").hidden = mode !== "token";
  }
  for (const b of document.querySelectorAll("#signin .seg-btn")) b.addEventListener("click", () => setSigninMode(b.dataset.mode));

  function normaliseMe(data) {
    const d = (data && (data.operator || data.me || data.user)) || data || {};
    return { name: d.name || d.actor || "operator", role: d.role || "director" };
  }

  $("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = signinMode === "token"
      ? { token: $("signin-token").value.trim() }
      : { name: $("signin-name").value.trim(), password: $("signin-password").value };
    if (signinMode === "token" ? !body.token : !body.name || !body.password) {
      $("signin-error").textContent = "请填写完整 Fill in all fields";
      return;
    }
    $("signin-submit").disabled = true;
    $("signin-error").textContent = "";
    try {
      const r = await api("POST", "/api/login", body, { noSignout: true });
      if (r.ok) {
        ctl.bearer = null;
        let me = r.data && (r.data.role || r.data.operator || r.data.me) ? normaliseMe(r.data) : null;
        if (!me) { const m = await api("GET", "/api/me", undefined, { noSignout: true }); me = m.ok ? normaliseMe(m.data) : { name: body.name || "operator", role: "director" }; }
        $("signin-password").value = ""; $("signin-token").value = "";
        return startSession(me);
      }
      if (r.status === 404 && signinMode === "token") {
        // No session login on this server: check the token and send it as a header instead.
        ctl.bearer = body.token;
        const s = await api("GET", API, undefined, { noSignout: true });
        if (s.ok) { $("signin-token").value = ""; return startSession({ name: "operator", role: "director", via: "token" }); }
        ctl.bearer = null;
        $("signin-error").textContent = s.status === 401 ? "令牌无效 Token not valid" : failure(s);
        return;
      }
      $("signin-error").textContent = r.status === 401 || r.status === 403
        ? (signinMode === "token" ? "令牌无效 Token not valid" : "用户名或密码错误 Wrong name or password")
        : failure(r);
    } finally {
      $("signin-submit").disabled = false;
    }
  });

  $("logout").addEventListener("click", async () => {
    if (!ctl.bearer) await api("POST", "/api/logout", {}, { noSignout: true });
    endSession();
    showSignin("已退出 Signed out");
  });

  function sessionLost(data) {
    endSession();
    showSignin("登录已过期，请重新登录 Session ended: sign in again" + (data && data.error ? ` (${data.error})` : ""));
  }

  function endSession() {
    ctl.me = null;
    ctl.bearer = null;
    ctl.state = null;
    if (ctl.ws) { const ws = ctl.ws; ctl.ws = null; ws.onclose = null; ws.close(); }
    ctl.wsOpen = false;
    clearTimeout(wsTimer);
    ctl.contactAt = 0;
    setLost(false);
    frames.stopAll();
    if (window.crewMonitor) window.crewMonitor.stop();
  }

  async function startSession(me) {
    ctl.me = me;
    document.body.classList.remove("signed-out");
    document.body.classList.toggle("role-producer", me.role === "producer");
    for (const e of document.querySelectorAll("[data-role=director]")) e.disabled = me.role === "producer";
    $("user-name").textContent = me.name;
    $("user-role").textContent = me.role === "producer" ? "制片 producer" : "导播 director";
    $("user-role").className = "role " + me.role;
    $("signin").hidden = true;
    $("app").hidden = false;
    $("log-csv").href = `${API}/events.csv`;
    connectWs();
    if (window.crewMonitor) window.crewMonitor.start(ctl, API); // the WebRTC monitor and solo (monitor.js)
    const [state] = await Promise.all([api("GET", API), loadProducts(), loadRundown(), loadEvents(), loadLinks()]);
    if (state.ok && ctl.me) applyState(state.data, true);
    else if (!state.ok && state.status !== 401) toast("读取节目状态失败 Could not read the show: " + failure(state), "error");
  }

  async function boot() {
    $("show-title").textContent = SETTINGS.title || SHOW;
    $("show-id").textContent = SHOW;
    document.title = `导播台 · ${SETTINGS.title || SHOW}`;
    const r = await api("GET", "/api/me", undefined, { noSignout: true });
    if (r.ok) return startSession(normaliseMe(r.data));
    if (r.status === 404) setSigninMode("token"); // no session login here: the token is what works
    showSignin("");
  }

  // ---------------------------------------------------------------- live state
  let wsTimer = 0;
  let wsBackoff = 500;
  function connectWs() {
    if (!ctl.me || ctl.ws || ctl.bearer) return; // with a bearer token only, the page polls
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${API}/ws`;
    let sock;
    try { sock = new WebSocket(url); } catch (_) { return scheduleWs(); }
    ctl.ws = sock;
    sock.onopen = () => {
      ctl.wsOpen = true;
      setConn();
      // Back after an outage (the server may have restarted, or closed us as too far behind): the
      // MJPEG stream may have ended too, and the socket only sends events newer than now.
      if (ctl.wsConnects++ > 0) { frames.restartProgram(); loadEvents(); }
    };
    sock.onmessage = (e) => {
      let msg;
      try { msg = JSON.parse(e.data); } catch (_) { return; }
      wsBackoff = 500; // reset once the server serves us, not on open: a socket closed at once backs off
      ctl.wsMessages += 1;
      contact();
      if (msg.type === "state" && msg.state) { applyState(msg.state); showNode(msg.node); }
      else if (msg.type === "event" && msg.event) addEvents([msg.event], true);
      else if (msg.type === "warning" && msg.message) warnOnce(msg.message);
    };
    sock.onclose = () => {
      if (ctl.ws !== sock) return;
      ctl.ws = null;
      ctl.wsOpen = false;
      setConn();
      scheduleWs();
    };
  }
  // A cluster: which node runs the show; a change is a take-over or a planned move (README).
  function showNode(node) {
    if (!node || node === ctl.node) return;
    if (ctl.node) toast(`节点切换 Show moved: ${ctl.node} → ${node} (接管 take-over)`, "error", 8000);
    ctl.node = node;
    $("show-id").textContent = `${SHOW} @ ${node}`;
  }
  let warnedAt = 0;
  function warnOnce(message) {
    if (Date.now() - warnedAt < 15000) return; // the socket repeats it every second
    warnedAt = Date.now();
    toast("服务器警告 Server warning: " + message, "error", 6000);
  }
  function scheduleWs() {
    if (!ctl.me) return;
    clearTimeout(wsTimer);
    const wait = wsBackoff * (0.8 + Math.random() * 0.4);
    wsBackoff = Math.min(wsBackoff * 2, 10000);
    wsTimer = setTimeout(async () => {
      // A refused upgrade may be an ended session: ask before trying again.
      const me = await api("GET", "/api/me", undefined, { noSignout: true });
      if (me.status === 401) return sessionLost(me.data);
      connectWs();
    }, wait);
  }
  function setConn() {
    const c = $("conn");
    c.className = "pill " + (ctl.wsOpen ? "conn-up" : "conn-down");
    c.replaceChildren(...(ctl.wsOpen ? bi("实时", "LIVE") : ctl.bearer ? bi("轮询", "POLLING") : bi("重连中", "RECONNECTING")));
  }

  // The server unanswering (dead, frozen, or the network): everything the page shows is the last it
  // heard, so it says so at once rather than look like a healthy show (a trial's finding).
  const LOST_AFTER_MS = 5000; // the socket sends a state about every second, the poll asks every second
  function contact() {
    const wasLost = ctl.lostSince !== 0;
    ctl.contactAt = Date.now();
    if (!wasLost) return;
    setLost(false);
    // Back: reconnect now rather than at the end of a backoff grown during the outage (up to 10 s).
    if (!ctl.ws && !ctl.bearer) { clearTimeout(wsTimer); wsBackoff = 500; connectWs(); }
    if (window.crewMonitor) window.crewMonitor.reconnect();
  }
  function checkContact() {
    if (ctl.me && ctl.contactAt && !ctl.lostSince && Date.now() - ctl.contactAt > LOST_AFTER_MS) setLost(true);
  }
  function setLost(lost) {
    ctl.lostSince = lost ? ctl.contactAt : 0;
    document.body.classList.toggle("stale", lost);
    const banner = $("lost");
    banner.hidden = !lost;
    if (lost) {
      const since = hms(ctl.contactAt / 1000);
      banner.replaceChildren(...bi(`与服务器失去连接（${since} 起），本页所示已过时`, `Connection to the server lost since ${since}: what this page shows is not live`));
    }
  }

  // While the socket is down, poll the state (and the log) over HTTP.
  let polling = false;
  let pollCount = 0;
  async function pollState() {
    if (!ctl.me || ctl.wsOpen || polling) return;
    polling = true;
    try {
      const r = await api("GET", API);
      if (r.ok && ctl.me) { contact(); applyState(r.data, true); }
      if (++pollCount % 3 === 0) await loadEvents(50);
    } finally {
      polling = false;
    }
  }

  /** ``fetched``: from an HTTP answer, which may arrive after a newer state from the socket. The
   * socket's own states are in order (and after a server restart the version may start again). */
  function applyState(s, fetched = false) {
    if (!s || typeof s !== "object") return;
    if (fetched && ctl.wsOpen && ctl.state && typeof s.version === "number" && s.version < ctl.state.version) return;
    const prev = ctl.state;
    ctl.state = s;
    ctl.stateAt = Date.now();
    const ids = (s.studios || []).map((x) => x.id).join(",");
    if (!prev || ids !== (prev.studios || []).map((x) => x.id).join(",")) buildStudioViews(s.studios || []);
    renderHeader(s);
    renderMonitors(s);
    renderTiles(s);
    renderCards(s);
    renderPreviewCards(s);
    renderAudio(s.audio);
    renderStudiosTab(s);
    renderCues(s);
    renderOutputs(s.outputs || {});
    renderDelays(s.delays || {}, s.outputs || {});
    renderSwitcher(s);
    renderAlarms(s.alarms || []);
    renderGraphicsControls(s);
    if (s.rundown && typeof s.rundown === "object") setRundown(s.rundown.studios || s.rundown);
    // The product list shows which products are on air.
    if (prev && prev.version !== s.version && cardsKey(prev) !== cardsKey(s)) reloadProducts();
  }
  const cardsKey = (s) => JSON.stringify((s.cards || []).map((c) => [c.slot, c.product, c.name, c.price, c.was_price, c.countdown_until]));

  function programStudios(s) {
    const l = (s.layout && s.layout.studios) || [];
    return new Set(l.length ? l : s.program ? [s.program] : []);
  }
  /** What the program clock really shows now (its own report): panic, black, fallback, a layout. */
  function airStudios(s) {
    const m = s.mixer || {};
    if (s.panic || s.ftb) return new Set();
    if (Array.isArray(m.on_air_studios)) return new Set(m.on_air_studios);
    return programStudios(s);
  }
  function previewStudios(s) {
    const l = (s.preview_layout && s.preview_layout.studios) || [];
    return new Set(l.length ? l : s.preview ? [s.preview] : []);
  }

  function renderHeader(s) {
    const pill = $("air-status");
    const onAir = [...airStudios(s)];
    const m = s.mixer || {};
    if (s.panic) {
      pill.className = "pill panic";
      pill.replaceChildren(...bi("紧急垫片", "PANIC · SLATE"));
    } else if (s.ftb) {
      pill.className = "pill slate";
      pill.replaceChildren(...bi("黑场", "FADED TO BLACK"));
    } else if (onAir.length) {
      pill.className = "pill live";
      pill.replaceChildren(...bi("直播中", "ON AIR"), " · " + onAir.map((id) => studioName(studioById(id))).join(" + "));
    } else {
      pill.className = "pill slate";
      pill.replaceChildren(...bi("垫片", "SLATE"));
    }
    if (s.fallback) pill.append(" · ", ...bi("备播", "FALLBACK"), fallbackNote(s.fallback));
    $("panic-banner").hidden = !s.panic;
    // Overload: the real output rate, late ticks and encoder drops; red when behind.
    const out = $("out-rate");
    const fps = m.output_fps, want = m.configured_fps;
    const behind = fps != null && want && (m.uptime_s || 0) > 3 && fps < 0.9 * want;
    const delta = (k) => (ctl.lastMixer && m[k] != null ? m[k] - (ctl.lastMixer[k] || 0) : 0);
    const dropping = delta("encoder_dropped") > 0 || delta("late_ticks") > 0;
    ctl.lastMixer = { encoder_dropped: m.encoder_dropped, late_ticks: m.late_ticks };
    out.className = "pill " + (behind ? "bad" : dropping ? "warn" : "ok");
    out.textContent = fps != null ? `OUT ${Number(fps).toFixed(1)}/${want} fps · late ${m.late_ticks ?? 0} · drop ${m.encoder_dropped ?? 0}` : "OUT —";
    out.title = behind ? "编码跟不上 Encoder behind: output below the configured frame rate" : "Program output: encoded fps / configured, late ticks, encoder drops";
  }

  // What happens next after a fallback (mixer/fallback.py): the clock returns by itself, or the crew cuts.
  function fallbackNote(f) {
    if (f.policy === "auto") {
      const steady = f.steady_s ? `, ${f.steady_s}/${f.returns_after_s} s` : "";
      return ` (自动：稳定 ${f.returns_after_s} 秒后恢复 · auto: returns when steady${steady})`;
    }
    if (f.policy === "manual") return " (手动：请切回 · manual: cut back when ready)";
    return "";
  }

  function renderSwitcher(s) {
    const layout = (s.preview_layout && s.preview_layout.layout) || "single";
    for (const b of document.querySelectorAll("#layout-seg .seg-btn")) b.classList.toggle("active", b.dataset.layout === layout);
    if (s.preview_layout && s.preview_layout.corner && document.activeElement !== $("corner")) $("corner").value = s.preview_layout.corner;
    $("btn-auto").disabled = $("btn-cut").disabled = !isDirector() || !s.preview;
    $("tbar").disabled = !isDirector() || !s.preview;
    $("btn-panic").classList.toggle("active", !!s.panic);
    $("btn-ftb").classList.toggle("active", !!s.ftb);
    const tr = (s.mixer || {}).transition;
    const bar = $("tr-progress");
    bar.classList.toggle("running", !!tr);
    bar.querySelector(".bar").style.width = (tr ? Math.round(tr.progress * 100) : 0) + "%";
    bar.title = tr ? `${tr.kind} ${Math.round(tr.progress * 100)}%` : "Transition progress";
    if (!tbarHeld && document.activeElement !== $("tbar")) $("tbar").value = Math.round((s.tbar || 0) * 100);
    if (s.fallback_policy && document.activeElement !== $("fallback-policy")) $("fallback-policy").value = s.fallback_policy;
  }

  // ---------------------------------------------------------------- multiview pictures
  /* The program monitor is the MJPEG stream (<img src=...mjpg>, one long request). Studio
   * previews are single JPEG frames fetched ~3 times a second, at most two at a time: a
   * browser allows only 6 connections per host, shared by every tab, and one MJPEG stream per
   * studio would use them all up and stall the API calls. */
  const frames = (() => {
    const sources = new Map(); // source -> {imgs:Set, url, next, busy, fails}
    let inflight = 0;
    let mjpegSeq = 0;

    function watch(img, source) {
      if (img.dataset.source === (source || "")) return;
      unwatch(img);
      img.dataset.source = source || "";
      if (!source) return;
      let entry = sources.get(source);
      if (!entry) sources.set(source, (entry = { imgs: new Set(), url: null, next: 0, busy: false, fails: 0 }));
      entry.imgs.add(img);
      if (entry.url) show(img, entry.url);
      entry.next = 0;
    }
    function unwatch(img) {
      const old = img.dataset.source;
      img.classList.remove("has-frame");
      img.removeAttribute("src");
      delete img.dataset.source;
      const entry = old && sources.get(old);
      if (!entry) return;
      entry.imgs.delete(img);
      if (!entry.imgs.size) {
        if (entry.url) URL.revokeObjectURL(entry.url);
        sources.delete(old);
      }
    }
    function show(img, url) {
      img.src = url;
      img.classList.add("has-frame");
    }
    async function fetchOne(source, entry) {
      entry.busy = true;
      inflight += 1;
      try {
        const headers = ctl.bearer ? { Authorization: "Bearer " + ctl.bearer } : {};
        const res = await fetch(`${API}/multiview/${encodeURIComponent(source)}.jpg`, { headers, credentials: "same-origin", cache: "no-store" });
        if (res.status === 200) {
          const blob = await res.blob();
          if (sources.get(source) !== entry) return;
          const old = entry.url;
          entry.url = URL.createObjectURL(blob);
          for (const img of entry.imgs) show(img, entry.url);
          if (old) setTimeout(() => URL.revokeObjectURL(old), 1000);
          entry.fails = 0;
          ctl.frames[source] = (ctl.frames[source] || 0) + 1;
        } else {
          await res.arrayBuffer().catch(() => null);
          entry.fails += 1;
        }
      } catch (_) {
        entry.fails += 1;
      } finally {
        inflight -= 1;
        entry.busy = false;
        // No picture yet (studio just joined) or no endpoint: ask less often.
        entry.next = performance.now() + (entry.fails ? Math.min(500 * 2 ** Math.min(entry.fails, 3), 3000) : POLL_FRAME_MS);
      }
    }
    function pump() {
      if (!ctl.me || document.hidden) return;
      const now = performance.now();
      const due = [...sources.entries()].filter(([, e]) => !e.busy && e.next <= now).sort((a, b) => a[1].next - b[1].next);
      for (const [source, entry] of due) {
        if (inflight >= MAX_FRAME_FETCHES) break;
        fetchOne(source, entry);
      }
    }
    setInterval(pump, 60);

    // The program monitor: the MJPEG stream, restarted if it stops; single frames if it fails.
    const pgm = { img: null, mode: "mjpg", lastLoad: 0, started: 0, fails: 0 };
    function startProgram(img) {
      pgm.img = img;
      img.onload = () => { pgm.lastLoad = performance.now(); pgm.fails = 0; img.classList.add("has-frame"); ctl.frames.program = (ctl.frames.program || 0) + 1; };
      img.onerror = () => {
        img.classList.remove("has-frame");
        pgm.fails += 1;
        if (pgm.fails >= 2) { pgm.mode = "poll"; img.onload = img.onerror = null; img.removeAttribute("src"); watch(img, "program"); }
        else setTimeout(() => restartProgram(), 2000);
      };
      restartProgram();
    }
    function restartProgram() {
      if (!pgm.img || pgm.mode !== "mjpg" || !ctl.me) return;
      pgm.started = performance.now();
      pgm.img.src = `${API}/multiview/program.mjpg?n=${++mjpegSeq}`;
    }
    function stopProgram() {
      if (pgm.img) { unwatch(pgm.img); pgm.img.onload = pgm.img.onerror = null; pgm.img.removeAttribute("src"); pgm.img.classList.remove("has-frame"); pgm.img = null; }
      pgm.mode = "mjpg"; pgm.fails = 0;
    }
    function stopAll() {
      for (const img of document.querySelectorAll("img[data-source]")) unwatch(img);
      if (pgm.img) { pgm.img.onload = pgm.img.onerror = null; pgm.img.removeAttribute("src"); pgm.img.classList.remove("has-frame"); pgm.img = null; }
      pgm.mode = "mjpg"; pgm.fails = 0;
    }
    return { watch, unwatch, startProgram, restartProgram, stopProgram, stopAll, pgm };
  })();
  // monitor.js: the WebRTC monitor replaces the JPEG one while it plays, and falls back to it.
  const webrtcMonitor = () => !!(ctl.monitor && ctl.monitor.mode === "webrtc");
  ctl.stopJpegMonitor = () => frames.stopProgram();
  ctl.startJpegMonitor = () => { if (!frames.pgm.img && ctl.me) frames.startProgram($("pgm-img")); };

  /* The program monitor is the encoded output, about a second behind the clock. Its label and
   * cover follow the picture: each label is shown once the monitor's measured delay has passed,
   * and a panic covers the old picture until the slate has had time to reach the monitor. */
  const pgmLabels = []; // [{at (ms), text}] oldest first
  let pgmCoverUntil = 0;
  let prevPanic = false;
  const monitorDelayMs = (s) => { if (webrtcMonitor() && ctl.monitor.delayMs != null) return ctl.monitor.delayMs; const d = s && s.monitor && s.monitor.delay_ms; return d != null ? Math.max(0, d) : 1000; };
  function airLabel(s) {
    if (s.panic) return "垫片 SLATE · PANIC";
    if (s.ftb) return "黑场 BLACK";
    const m = s.mixer || {};
    const ids = [...airStudios(s)];
    const names = ids.map((id) => studioName(studioById(id))).join(" + ") || "垫片 SLATE";
    const layout = m.layout && m.layout !== "single" && ids.length > 1 ? ` · ${m.layout}` : "";
    const tr = m.transition;
    return tr && tr.kind !== "tbar" ? `→ ${names}${layout} (${tr.kind})` : names + layout;
  }
  function renderPgmLabel() {
    const s = ctl.state;
    if (!s) return;
    const due = Date.now() - monitorDelayMs(s);
    while (pgmLabels.length > 1 && pgmLabels[1].at <= due) pgmLabels.shift();
    const text = pgmLabels.length ? pgmLabels[0].text : "—";
    if (text !== ctl.pgmLabel) { ctl.pgmLabel = text; $("pgm-name").textContent = text; }
    const covered = Date.now() < pgmCoverUntil;
    $("pgm-cover").hidden = !covered;
  }
  setInterval(renderPgmLabel, 100);

  /* Each program monitor in its own aspect ratio (a 9:16 program is never squashed into 16:9);
   * a show's further program (portrait beside landscape) gets a monitor of its own, its encoded
   * output polled as JPEGs. Columns are weighted by aspect ratio so every screen has one height. */
  function renderPrograms(s) {
    const progs = (s.mixer && s.mixer.programs) || [];
    const aspect = (p) => (p && p.width && p.height ? p.width / p.height : 16 / 9);
    if (progs[0]) {  // the preview is the look the main program takes next: the same shape
      for (const screen of [$("pgm-img").parentElement, $("pvw-screen")]) screen.style.aspectRatio = `${progs[0].width} / ${progs[0].height}`;
    }
    const monitors = $("monitors");
    const wanted = new Set();
    for (const p of progs.slice(1)) {
      const id = `mon-pgm-${p.orientation}`;
      wanted.add(id);
      let box = $(id);
      if (!box) {
        const img = h("img", { alt: `Program ${p.orientation}` });
        const screen = h("div", { class: "screen" }, img, h("div", { class: "placeholder" }, h("div", null, ...bi("节目输出", p.orientation))));
        box = h("div", { class: "monitor pgm extra", id },
          h("div", { class: "mon-head" }, h("span", { class: "bus" }, "PGM"), h("span", { class: "mon-name" }, p.orientation === "portrait" ? "竖屏 9:16" : "横屏 16:9")),
          screen);
        monitors.appendChild(box);
        frames.watch(img, `program-${p.orientation}`);
      }
      box.querySelector(".screen").style.aspectRatio = `${p.width} / ${p.height}`;
    }
    for (const old of monitors.querySelectorAll(".monitor.extra")) {
      if (!wanted.has(old.id)) { const img = old.querySelector("img"); if (img) frames.unwatch(img); old.remove(); }
    }
    const weights = [aspect(progs[0]), aspect(progs[0]), ...progs.slice(1).map(aspect)];
    monitors.style.gridTemplateColumns = weights.map((w) => `minmax(0, ${w.toFixed(3)}fr)`).join(" ");
  }

  function renderMonitors(s) {
    const pgmImg = $("pgm-img");
    if (!frames.pgm.img && !webrtcMonitor()) frames.startProgram(pgmImg);
    const label = airLabel(s);
    if (!pgmLabels.length || pgmLabels[pgmLabels.length - 1].text !== label) pgmLabels.push({ at: Date.now(), text: label });
    if (pgmLabels.length > 50) pgmLabels.shift();
    if (s.panic && !prevPanic) {
      pgmCoverUntil = Date.now() + monitorDelayMs(s) + 400;
      $("pgm-cover").replaceChildren(h("div", null, ...bi("紧急垫片已播出", "PANIC: slate on air")), h("div", { class: "small" }, ...bi("监视器追赶中", "monitor catching up")));
    }
    if (!s.panic) pgmCoverUntil = 0;
    prevPanic = !!s.panic;
    renderPgmLabel();
    renderPrograms(s);
    const mon = s.monitor || {};
    if (!webrtcMonitor()) {
      $("pgm-info").textContent = mon.delay_ms != null ? `监视 monitor ≈${(mon.delay_ms / 1000).toFixed(1)} s behind · ${mon.fps} fps` : "";
      $("pgm-info").title = "The program monitor shows the encoded output; it is this far behind what goes out.";
    }
    // The preview monitor shows the look built on preview: its layout from the studios' pictures.
    const pl = s.preview_layout || { layout: "single", studios: s.preview ? [s.preview] : [] };
    const [mainId, secondId] = pl.studios || [];
    const pvw = studioById(mainId || s.preview);
    const second = secondId ? studioById(secondId) : null;
    const screen = $("pvw-screen");
    screen.className = "screen" + (second ? (pl.layout === "pip" ? " pip " + (pl.corner || "bottom-right") : " sbs") : "");
    $("pvw-name").textContent = pvw ? studioName(pvw) + (second ? ` + ${studioName(second)} · ${pl.layout}` : "") : "—";
    $("pvw-info").textContent = pvw && pvw.stats ? healthText(pvw.stats) : "";
    frames.watch($("pvw-img"), pvw && pvw.online ? pvw.id : null);
    $("pvw-img2").hidden = !second;
    frames.watch($("pvw-img2"), second && second.online ? second.id : null);
    $("pvw-ph").replaceChildren(h("div", null, ...(pvw ? (pvw.online ? bi("等待画面", "Waiting for picture") : bi("直播间离线", "Studio offline")) : bi("无预览", "Nothing on preview"))));
  }

  // ---------------------------------------------------------------- studio tiles
  const tiles = new Map(); // studio id -> {root, img, ph, name, tally, online, health, meter}
  const cueViews = new Map();
  const audioViews = new Map();
  const studioViews = new Map();

  function buildStudioViews(studios) {
    const grid = $("studio-grid");
    grid.replaceChildren();
    grid.classList.toggle("dense", studios.length > 8); // control.css: smaller tiles
    for (const t of tiles.values()) frames.unwatch(t.img);
    tiles.clear();
    studios.forEach((s, i) => {
      const img = h("img", { alt: studioName(s) });
      const ph = h("div", { class: "placeholder" });
      const online = h("span", { class: "badge" });
      const health = h("span", { class: "badge" });
      const meter = h("div", { class: "meter-v" }, h("div", { class: "rms" }), h("div", { class: "peak" }));
      const tally = h("span", { class: "tally" });
      const name = h("span", { class: "name", title: [s.name, s.name_en, s.place].filter(Boolean).join(" · ") }, studioName(s));
      const root = h("div", { class: "tile", dataset: { studio: s.id }, title: `${studioName(s)} — 点击预览 click for preview${i < 9 ? ` (${i + 1})` : ""}` },
        h("div", { class: "screen" }, img, ph, h("div", { class: "badges" }, online, health), meter),
        h("div", { class: "tile-bar" }, i < 9 ? h("span", { class: "key" }, i + 1) : null, name, tally));
      root.addEventListener("click", () => setPreview(s.id));
      grid.append(root);
      tiles.set(s.id, { root, img, ph, online, health, meter, tally });
    });
    buildCueViews(studios);
    buildAudioViews(studios);
    buildStudiosTab(studios);
    fillRundownStudios(studios);
  }

  function healthOf(stats) {
    if (!stats) return "poor";
    const loss = Number(stats.packet_loss_pct || 0);
    const fps = Number(stats.fps || 0);
    if (loss >= 5 || (stats.fps != null && fps < 10)) return "poor";
    if (loss >= 1 || (stats.fps != null && fps < 20)) return "fair";
    return "good";
  }
  function healthText(st) {
    const parts = [];
    if (st.resolution) parts.push(st.resolution);
    if (st.fps != null) parts.push(`${Math.round(st.fps)}fps`);
    if (st.packet_loss_pct != null) parts.push(`${Number(st.packet_loss_pct).toFixed(1)}%`);
    if (st.transport === "rtmp") parts.push("RTMP");
    return parts.join(" · ");
  }

  /** "ok", "none" (connected, no picture for a second) or "offline": a frozen picture is not a live one. */
  const signalOf = (st) => st.signal || (st.online ? "ok" : "offline");
  const signalBadge = (signal) => "badge " + (signal === "ok" ? "online" : signal === "none" ? "nosignal" : "offline");
  /** fn(st, view, tally, signal) for each studio of state ``s`` with a view in ``views``; tally: "pgm", "pvw" or "". */
  function eachStudioView(s, views, fn) {
    const onAir = airStudios(s), onPvw = previewStudios(s);
    for (const st of s.studios || []) {
      const view = views.get(st.id);
      if (view) fn(st, view, onAir.has(st.id) ? "pgm" : onPvw.has(st.id) ? "pvw" : "", signalOf(st));
    }
  }
  function renderTiles(s) {
    eachStudioView(s, tiles, (st, t, tally, signal) => {
      const pgm = tally === "pgm", pvw = tally === "pvw";
      t.root.classList.toggle("program", pgm);
      t.root.classList.toggle("preview", pvw);
      t.root.classList.toggle("offline", !st.online);
      t.root.classList.toggle("nosignal", signal === "none");
      t.tally.className = "tally " + tally;
      t.tally.textContent = tally.toUpperCase();
      t.online.className = signalBadge(signal);
      t.online.textContent = signal === "ok" ? "在线 ONLINE" : signal === "none" ? `无信号 NO SIGNAL${st.frame_age_s != null ? ` ${Math.round(st.frame_age_s)}s` : ""}` : "离线 OFFLINE";
      t.health.hidden = signal !== "ok" || !st.stats;
      if (st.stats) {
        t.health.className = "badge " + healthOf(st.stats);
        t.health.textContent = healthText(st.stats) || "—";
      }
      // No signal: drop the last (frozen) picture rather than show it as if live.
      frames.watch(t.img, signal === "ok" ? st.id : null);
      t.ph.replaceChildren(h("div", null, ...(signal === "none" ? bi("无信号", "NO SIGNAL") : st.online ? bi("等待画面", "Waiting for picture") : bi("离线", "Offline"))));
    });
  }

  function setMeter(node, reading) {
    if (!node) return;
    const frac = (db) => (db == null || !isFinite(db) ? 0 : Math.max(0, Math.min(1, (Number(db) + 60) / 60)));
    const rms = node.querySelector(".rms");
    const peak = node.querySelector(".peak");
    const vertical = node.classList.contains("meter-v");
    const r = reading ? frac(reading.rms_dbfs) : 0;
    const p = reading ? frac(reading.peak_dbfs) : 0;
    if (vertical) {
      rms.style.height = r * 100 + "%";
      rms.style.setProperty("--h", node.clientHeight + "px");
      peak.style.setProperty("--peak", p * 100 + "%");
      peak.style.visibility = p > 0 ? "visible" : "hidden";
    } else {
      rms.style.width = r * 100 + "%";
      rms.style.setProperty("--w", node.clientWidth + "px");
      peak.style.left = `calc(${p * 100}% - 2px)`;
      peak.style.visibility = p > 0 ? "visible" : "hidden";
    }
  }

  // ---------------------------------------------------------------- switching
  async function setPreview(studio) {
    if (!isDirector()) return toast("制片不能切换 Producers cannot switch", "error");
    await act("POST", `${API}/preview`, { studio }, { what: "预览 Preview" });
  }
  async function take(transition) {
    if (!isDirector()) return;
    if (ctl.state && !ctl.state.preview) return toast("预览为空 Nothing on preview", "error");
    const body = transition === "cut" ? { transition: "cut" } : { transition: $("transition").value, duration_ms: durationMs() };
    await act("POST", `${API}/take`, body, { what: transition === "cut" ? "切换 CUT" : "自动 AUTO", button: transition === "cut" ? $("btn-cut") : $("btn-auto") });
  }
  function durationMs() {
    const v = Math.round(Number($("duration").value));
    return Number.isFinite(v) ? Math.max(0, Math.min(5000, v)) : 500;
  }
  async function panic(on) {
    if (!isDirector()) return;
    await act("POST", `${API}/${on ? "panic" : "unpanic"}`, {}, { what: on ? "紧急 PANIC" : "恢复 Back from slate", button: on ? $("btn-panic") : $("unpanic") });
  }
  /** Build a layout on PREVIEW (nothing goes to air until CUT, AUTO or the T-bar): the preview
   * studio is the main picture; the second is the one chosen with Shift+number, else the program's. */
  async function setLayout(layout, second) {
    if (!isDirector() || !ctl.state) return;
    const s = ctl.state;
    const pl = s.preview_layout || {};
    const main = s.preview || s.program;
    const body = { layout };
    if (!main) return toast("先选预览画面 Put a studio on preview first", "error");
    if (layout !== "single") {
      const other = second || (pl.studios || [])[1] || (s.program !== main ? s.program : null);
      if (!other || other === main) return toast("需要两个不同的直播间：按 Shift+数字选第二个 Needs a second studio: Shift+number picks it", "error");
      body.studios = [main, other];
      if (layout === "pip") body.corner = $("corner").value;
    } else {
      body.studios = [main];
    }
    await act("POST", `${API}/layout`, body, { what: "预览版式 Preview layout" });
  }
  function setSecond(studio) {
    const s = ctl.state;
    if (!s) return;
    const layout = s.preview_layout && s.preview_layout.layout !== "single" ? s.preview_layout.layout : "pip";
    setLayout(layout, studio);
  }
  /** Fade to black goes on air: confirmed going down, not coming back up. */
  async function fadeToBlack() {
    if (!isDirector() || !ctl.state) return;
    const on = !ctl.state.ftb;
    if (on) {
      const ok = await confirmDialog("黑场 Fade to black", [h("p", null, "节目将渐隐为黑场并静音。"), h("p", { class: "muted" }, "The program fades to black and silence until you fade back up.")], bi("渐隐", "Fade to black"));
      if (!ok) return;
    }
    await act("POST", `${API}/ftb`, { on, duration_ms: durationMs() }, { what: "黑场 FTB", button: $("btn-ftb") });
  }
  // The T-bar: the program mixes into preview as it moves; the end takes the preview to air.
  let tbarHeld = false;
  let tbarSent = 0;
  const sendTbar = async (position) => {
    tbarSent = position;
    await act("POST", `${API}/tbar`, { position }, { what: "T-bar" });
  };
  const tbarMove = (() => {
    let timer = 0, pending = null;
    return (pos) => {
      pending = pos;
      if (timer) return;
      timer = setTimeout(() => { timer = 0; if (pending !== tbarSent) sendTbar(pending); }, 80);
    };
  })();
  $("tbar").addEventListener("pointerdown", () => { tbarHeld = true; });
  $("tbar").addEventListener("input", () => tbarMove(Number($("tbar").value) / 100));
  $("tbar").addEventListener("change", async () => {
    tbarHeld = false;
    const pos = Number($("tbar").value) / 100;
    if (pos >= 1) { await sendTbar(1); $("tbar").value = 0; } else await sendTbar(pos);
    $("tbar").blur();
  });
  $("btn-cut").addEventListener("click", () => take("cut"));
  $("btn-auto").addEventListener("click", () => take("auto"));
  $("btn-panic").addEventListener("click", () => panic(true));
  $("btn-ftb").addEventListener("click", () => fadeToBlack());
  $("fallback-policy").addEventListener("change", () => {
    if (isDirector()) act("POST", `${API}/fallback-policy`, { policy: $("fallback-policy").value }, { what: "备播策略 Fallback policy" });
    $("fallback-policy").blur(); // chosen: the switching keys work again
  });
  $("unpanic").addEventListener("click", () => panic(false));
  for (const b of document.querySelectorAll("#layout-seg .seg-btn")) b.addEventListener("click", () => setLayout(b.dataset.layout));
  $("corner").addEventListener("change", () => { if (ctl.state && ctl.state.preview_layout && ctl.state.preview_layout.layout === "pip") setLayout("pip"); });

  // A clicked button must not keep the focus: Space and Enter are the CUT and AUTO keys.
  document.addEventListener("click", (e) => { const b = e.target.closest("button"); if (b && !b.closest("form")) b.blur(); });

  /* Global shortcuts. Esc (PANIC) is armed everywhere, even while typing or in a dialog. The
   * switching keys never type into a field: while a text field has the focus they are off, and
   * the header says so (KEYS OFF); they come back when the field loses the focus. */
  function typing(target) {
    if (!target || !target.closest) return false;
    if (target.matches && target.matches("input[type=range], input[type=checkbox], input[type=radio], input[type=file]")) return false;
    return !!target.closest("input, textarea, select, [contenteditable]");
  }
  function setKeysArmed() {
    const armed = !typing(document.activeElement) && !$("confirm").open && !$("help").open;
    if (armed === ctl.keysArmed && $("kbd-state").dataset.set) return;
    ctl.keysArmed = armed;
    $("kbd-state").dataset.set = "1";
    $("kbd-state").className = "pill " + (armed ? "kbd-on" : "kbd-off");
    const dialog = $("confirm").open || $("help").open;
    $("kbd-state").replaceChildren("⌨ ", ...(armed ? bi("快捷键", "KEYS ON") : dialog ? bi("对话框", "KEYS OFF · dialog · Esc = cancel, again = PANIC") : bi("输入中", "KEYS OFF · typing · Esc = PANIC")));
  }
  document.addEventListener("focusin", setKeysArmed);
  document.addEventListener("focusout", () => setTimeout(setKeysArmed, 0));
  const digit = (e) => (/^Digit[1-9]$/.test(e.code) ? Number(e.code.slice(5)) : /^[1-9]$/.test(e.key) ? Number(e.key) : 0);
  document.addEventListener("keydown", (e) => {
    if (!ctl.me || $("app").hidden || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "Escape") {
      // In a dialog Esc cancels it (the universal meaning: a reflex must not put the slate on
      // air); a second Esc is PANIC. Everywhere else, typing included, Esc is PANIC.
      if ($("confirm").open || $("help").open) return;
      e.preventDefault();
      if (!e.repeat) panic(true);
      return;
    }
    if ($("confirm").open || $("help").open || typing(e.target)) return;
    const key = e.key;
    const n = digit(e);
    if (n) {
      const studio = (ctl.state && ctl.state.studios || [])[n - 1];
      if (studio) { e.preventDefault(); if (!e.repeat) (e.shiftKey ? setSecond(studio.id) : setPreview(studio.id)); }
    } else if (key === " " || e.code === "Space") {
      e.preventDefault();
      if (!e.repeat) take("cut");
    } else if (key === "Enter") {
      e.preventDefault();
      if (!e.repeat) take("auto");
    } else if (key === "?" || (e.code === "Slash" && e.shiftKey)) {
      e.preventDefault();
      showHelp();
    } else if (e.code === "KeyB") {
      e.preventDefault();
      if (!e.repeat) fadeToBlack();
    } else if (e.code === "KeyQ" || e.code === "KeyW" || e.code === "KeyE") {
      e.preventDefault();
      if (!e.repeat) setLayout({ KeyQ: "single", KeyW: "pip", KeyE: "side-by-side" }[e.code]);
    } else if (e.code === "KeyA") {
      e.preventDefault();
      if (!e.repeat) ackAll();
    }
  });
  function showHelp() { if (!$("help").open) $("help").showModal(); setKeysArmed(); }
  $("help-btn").addEventListener("click", showHelp);
  $("help-close").addEventListener("click", () => { $("help").close(); setKeysArmed(); });
  $("help").addEventListener("close", setKeysArmed);
  $("confirm").addEventListener("close", () => setTimeout(setKeysArmed, 0));
  document.addEventListener("keyup", (e) => { if ((e.key === " " || e.key === "Enter") && !typing(e.target)) e.preventDefault(); });

  // ---------------------------------------------------------------- alarms
  /* The server keeps the show's alarms (orchestrator/alarms.py), so every operator sees the same
   * list. Each stays on screen until someone acknowledges it; while any is unacknowledged the page
   * beeps every 2 s (WebAudio; browsers allow sound only after the first click or key press). */
  let audioCtx = null;
  let alarmsShown = "";
  const unlockAudio = () => {
    if (!audioCtx && window.AudioContext) { try { audioCtx = new AudioContext(); } catch (_) { audioCtx = null; } }
    if (audioCtx && audioCtx.state === "suspended") audioCtx.resume().catch(() => {});
  };
  document.addEventListener("pointerdown", unlockAudio, true);
  document.addEventListener("keydown", unlockAudio, true);
  function beep() {
    ctl.beeps += 1;
    if (!audioCtx || audioCtx.state !== "running") return;
    const t = audioCtx.currentTime;
    for (const [i, f] of [[0, 880], [1, 660]]) {
      const osc = audioCtx.createOscillator();
      const gain = audioCtx.createGain();
      osc.frequency.value = f;
      gain.gain.setValueAtTime(0.0001, t + i * 0.18);
      gain.gain.exponentialRampToValueAtTime(0.25, t + i * 0.18 + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + i * 0.18 + 0.16);
      osc.connect(gain).connect(audioCtx.destination);
      osc.start(t + i * 0.18);
      osc.stop(t + i * 0.18 + 0.17);
    }
  }
  setInterval(() => { if (ctl.me && (ctl.state && ctl.state.alarms || []).some((a) => !a.acked_by)) beep(); }, 2000);
  function renderAlarms(alarms) {
    const box = $("alarms");
    const open = alarms.filter((a) => !a.acked_by || a.active);
    const key = JSON.stringify(open.map((a) => [a.key, a.cause, a.fix, a.active, a.acked_by]));
    if (key === alarmsShown) return;
    const fresh = open.some((a) => !a.acked_by && !alarmsShown.includes(JSON.stringify(a.key)));
    alarmsShown = key;
    box.hidden = !open.length;
    document.body.classList.toggle("alarmed", open.some((a) => !a.acked_by));
    box.replaceChildren(...open.map((a) => h("div", { class: "alarm" + (a.acked_by ? " acked" : "") + (a.active ? " active" : " cleared"), dataset: { alarm: a.id, kind: a.kind } },
      h("span", { class: "a-icon" }, a.acked_by ? "✓" : "⚠"),
      h("span", { class: "a-time mono" }, hms(a.raised_at)),
      h("span", { class: "a-cause" }, a.cause),
      h("span", { class: "a-fix" }, "→ " + a.fix),
      h("span", { class: "a-state muted small" }, a.active ? (a.acked_by ? `已确认 seen by ${a.acked_by}, still active` : "") : `已恢复 cleared ${a.cleared_at ? hms(a.cleared_at) : ""}`),
      a.kind === "studio.no_signal" || a.kind === "program.fallback" ? fixButton(a) : null,
      a.acked_by ? null : h("button", { class: "btn small ack", onclick: (e) => ackAlarm(a.id, e.currentTarget) }, ...bi("确认", "Acknowledge"), h("kbd", null, "A")))));
    if (fresh) beep();
  }
  /** The fix at hand: put a live studio on preview (taking it is the operator's call). */
  function fixButton(a) {
    const s = ctl.state;
    const failed = a.id.split(":")[1];
    // Only when the failed studio is in use, and only a live studio not on air already.
    if (!isDirector() || !(airStudios(s).has(failed) || programStudios(s).has(failed) || previewStudios(s).has(failed))) return null;
    const onAir = airStudios(s);
    const live = (s.studios || []).find((x) => x.id !== failed && signalOf(x) === "ok" && !onAir.has(x.id));
    if (!live) return null;
    return h("button", { class: "btn small", title: "Put it on preview, then CUT", onclick: () => setPreview(live.id) }, ...bi("预览", "Preview"), " " + studioName(live));
  }
  async function ackAlarm(id, button) {
    await act("POST", `${API}/alarms/${encodeURIComponent(id)}/ack`, {}, { what: "确认报警 Acknowledge", button, handle: [404] });
  }
  function ackAll() {
    for (const a of (ctl.state && ctl.state.alarms) || []) if (!a.acked_by) ackAlarm(a.id);
  }

  // ---------------------------------------------------------------- lower third and logo
  function renderGraphicsControls(s) {
    const sel = $("lt-studio");
    const ids = (s.studios || []).map((x) => x.id).join(",");
    if (sel.dataset.ids !== ids) {
      sel.dataset.ids = ids;
      const keep = sel.value;
      sel.replaceChildren(...(s.studios || []).map((x) => h("option", { value: x.id }, studioName(x))));
      if (keep) sel.value = keep;
    }
    if (document.activeElement !== sel && s.lower_third) sel.value = s.lower_third.studio;
    $("lt-hide").disabled = !s.lower_third;
    $("lt-show").classList.toggle("active", !!s.lower_third);
    $("logo-toggle").classList.toggle("active", !!s.logo);
    $("logo-toggle").replaceChildren(...(s.logo ? bi("台标下屏", "Logo off") : bi("台标上屏", "Logo on")));
  }
  $("lt-show").addEventListener("click", (e) => act("POST", `${API}/lower-third`, { studio: $("lt-studio").value, text: $("lt-text").value.trim() }, { what: "字幕条 Lower third", button: e.currentTarget }));
  $("lt-hide").addEventListener("click", (e) => act("DELETE", `${API}/lower-third`, undefined, { what: "字幕条 Lower third", button: e.currentTarget }));
  $("logo-toggle").addEventListener("click", (e) => act("POST", `${API}/logo`, { on: !(ctl.state && ctl.state.logo) }, { what: "台标 Logo", button: e.currentTarget }));

  // ---------------------------------------------------------------- confirm dialog
  function confirmDialog(title, body, okLabel) {
    const dlg = $("confirm");
    $("confirm-title").textContent = title;
    $("confirm-body").replaceChildren(...[body].flat());
    $("confirm-ok").replaceChildren(...(okLabel || bi("确认", "Confirm")));
    // Resolved from the buttons themselves: a background tab may never get the dialog's close event.
    return new Promise((resolve) => {
      const finish = (ok) => {
        $("confirm-ok").onclick = $("confirm-cancel").onclick = dlg.oncancel = dlg.onclose = null;
        if (dlg.open) dlg.close();
        resolve(ok);
      };
      $("confirm-ok").onclick = () => finish(true);
      $("confirm-cancel").onclick = () => finish(false);
      dlg.oncancel = (e) => { e.preventDefault(); finish(false); }; // Esc
      dlg.onclose = () => finish(false);
      dlg.showModal();
      $("confirm-cancel").focus();
    });
  }
  /** The server's refusal (409) explained in the crew's words; the raw API text is not for them. */
  function priceConfirm(product, live, catalogue) {
    return confirmDialog("价格与目录不同 Price differs from the catalogue", [
      h("div", null, h("b", null, product)),
      h("div", { class: "muted small" }, `将在直播中显示 ${yuan(live)}，而目录价为 ${yuan(catalogue)}。请核对后确认。`),
      h("div", { class: "muted small" }, `Buyers will see ${yuan(live)} on air; the catalogue says ${yuan(catalogue)}. Check it, then confirm.`),
      h("div", { class: "price-compare" },
        h("div", null, h("div", { class: "muted" }, ...bi("目录价", "Catalogue")), h("div", { class: "big" }, yuan(catalogue))),
        h("div", { class: "new" }, h("div", { class: "muted" }, ...bi("将播出的价格", "Price going on air")), h("div", { class: "big" }, yuan(live)))),
    ], bi("确认此价格上屏", "Put this price on air"));
  }

  // ---------------------------------------------------------------- cards on air
  const countdowns = new Map(); // slot -> deadline (ms, this clock)
  let cardsShown = null;
  function renderCards(s) {
    const list = $("cards-list");
    const cards = s.cards || [];
    for (const c of cards) if (c.countdown_left_s != null) countdowns.set(c.slot, Date.now() + c.countdown_left_s * 1000);
    const lt = s.lower_third;
    $("lower-third-state").textContent = lt ? `字幕条 lower third: ${studioName(studioById(lt.studio))}` : "";
    // Rebuilt only when what is on air changes: a Hide button must not vanish under the pointer.
    const key = cardsKey(s);
    if (key === cardsShown) return tickCountdowns();
    cardsShown = key;
    countdowns.clear();
    if (!cards.length) {
      list.replaceChildren(h("div", { class: "empty" }, ...bi("无卡片在播", "No card on air")));
    } else {
      list.replaceChildren(...cards.map((c) => {
        if (c.countdown_left_s != null) countdowns.set(c.slot, Date.now() + c.countdown_left_s * 1000);
        return h("div", { class: "card-row-onair", dataset: { slot: c.slot, product: c.product } },
          h("span", { class: "slot" }, c.slot),
          h("span", { class: "nm", title: c.product }, c.name || productName(c.product)),
          h("span", null, h("span", { class: "price" }, yuan(c.price)), c.was_price ? h("span", { class: "was" }, yuan(c.was_price)) : null),
          c.countdown_left_s != null ? h("span", { class: "countdown", dataset: { slot: c.slot } }, mmss(c.countdown_left_s)) : h("span"),
          h("button", { class: "btn small", onclick: (e) => hideCard(c.slot, e.currentTarget) }, ...bi("下屏", "Hide")));
      }));
    }
  }
  /** Cards built on preview: shown on the preview monitor and here, on air with the next take. */
  let previewCardsShown = "";
  function renderPreviewCards(s) {
    const pending = s.preview_cards || [];
    const key = JSON.stringify(pending);
    $("pvw-cards").hidden = !pending.length;
    if (key === previewCardsShown) return;
    previewCardsShown = key;
    $("pvw-cards").textContent = pending.map((c) => `＋ ${c.slot}: ${c.name} ${yuan(c.price)}`).join("  ");
    $("preview-cards").replaceChildren(...pending.map((c) => h("div", { class: "card-row-onair pending", dataset: { slot: c.slot, product: c.product } },
      h("span", { class: "slot" }, "PVW " + c.slot),
      h("span", { class: "nm", title: c.product }, c.name),
      h("span", null, h("span", { class: "price" }, yuan(c.price))),
      h("span", { class: "muted small" }, ...bi("随下次切换", "with next take")),
      h("button", { class: "btn small", onclick: (e) => act("DELETE", `${API}/cards/${c.slot}?bus=preview`, undefined, { what: "预览卡片 Preview card", button: e.currentTarget }) }, ...bi("移除", "Remove")))));
  }
  function tickCountdowns() {
    for (const node of document.querySelectorAll(".countdown[data-slot]")) {
      const until = countdowns.get(node.dataset.slot);
      if (!until) continue;
      const left = Math.ceil((until - Date.now()) / 1000);
      // At 00:00 the server takes the card off air (the sale is over); until then say so here.
      node.textContent = left > 0 ? mmss(left) : "结束 ended";
      node.classList.toggle("ended", left <= 0);
    }
  }
  async function hideCard(slot, button) {
    await act("DELETE", `${API}/cards/${slot}`, undefined, { what: "下屏 Hide card", button });
  }
  async function showCard(productId, slot, countdown, button) {
    const body = { product: productId, slot };
    if (countdown) body.countdown_s = countdown;
    const next = $("ed-next").checked && button === $("ed-card");
    if (next) body.preview = true; // built on preview: on air with the next take
    let r = await act("POST", `${API}/cards`, body, { what: "上屏 Show card", button, handle: [409] });
    if (r.status === 409) {
      const p = ctl.productById.get(productId) || {};
      const ok = await priceConfirm(p.name || productId, p.price, p.catalogue_price);
      if (!ok) return r;
      r = await act("POST", `${API}/cards`, { ...body, confirm_price: true }, { what: "上屏 Show card", button });
    }
    if (r.ok) toast(next ? `已加到预览 On preview, with the next take: ${productName(productId)} (${slot})` : `已上屏 On air: ${productName(productId)} (${slot})`, "ok", 2200);
    return r;
  }

  // ---------------------------------------------------------------- products
  async function loadProducts() {
    const r = await api("GET", `${API}/products`);
    if (!r.ok) { if (r.status !== 401) $("product-count").textContent = "商品列表不可用 Products unavailable: " + failure(r); return; }
    ctl.products = (r.data && r.data.products) || [];
    ctl.productById = new Map(ctl.products.map((p) => [p.id, p]));
    for (const p of ctl.products) p._hay = [p.id, p.name, p.name_en, p.enterprise, p.promo].filter(Boolean).join(" ").toLowerCase();
    renderProducts();
    fillProductOptions();
    if (ctl.selected) selectProduct(ctl.selected, true);
    renderRundown();
  }
  const reloadProducts = debounce(loadProducts, 250);

  function renderProducts() {
    const words = $("product-search").value.toLowerCase().split(/\s+/).filter(Boolean);
    const hits = [];
    let total = 0;
    for (const p of ctl.products) {
      if (words.every((w) => p._hay.includes(w))) {
        total += 1;
        if (hits.length < MAX_ROWS) hits.push(p);
      }
    }
    const enterprises = new Set(ctl.products.map((p) => p.enterprise)).size;
    $("product-count").textContent = words.length
      ? `找到 ${total} 件（显示 ${hits.length}） · ${total} found, showing ${hits.length}`
      : `共 ${ctl.products.length} 件商品，${enterprises} 家企业 · ${ctl.products.length} products from ${enterprises} enterprises` + (total > hits.length ? ` · 显示前 ${hits.length} showing ${hits.length}` : "");
    $("product-list").replaceChildren(...hits.map(productRow));
  }
  function productRow(p) {
    const differs = p.catalogue_price != null && Math.round(p.price * 100) !== Math.round(p.catalogue_price * 100);
    return h("div", { class: "prow" + (ctl.selected === p.id ? " selected" : ""), dataset: { product: p.id }, onclick: () => selectProduct(p.id) },
      h("div", { class: "pn" }, p.name, p.name_en ? h("span", { class: "en" }, "  " + p.name_en) : null,
        p.promo ? h("span", { class: "tag promo" }, p.promo) : null,
        ...(p.on_air || []).map((slot) => h("span", { class: "tag air" }, "ON AIR " + slot))),
      h("div", { class: "pp" }, h("span", { class: "price" }, yuan(p.price)), p.was_price ? h("span", { class: "was" }, yuan(p.was_price)) : null,
        differs ? h("span", { class: "tag diff", title: "目录价 catalogue " + yuan(p.catalogue_price) }, "≠目录") : null),
      h("div", { class: "pe" }, [p.enterprise, p.id].filter(Boolean).join(" · ")),
      h("div", { class: "ps" }, `库存 stock ${p.stock ?? "—"}` + (p.sold != null ? ` · 已售 sold ${p.sold}` : "")));
  }
  $("product-search").addEventListener("input", debounce(renderProducts, 120));
  ctl.renderProducts = renderProducts;

  let editorDirty = false; // typed but not saved: a product list refresh must not overwrite it
  for (const id of ["ed-price", "ed-stock", "ed-promo"]) $(id).addEventListener("input", () => { editorDirty = true; });
  function selectProduct(id, keepInputs) {
    const p = ctl.productById.get(id);
    if (id !== ctl.selected) keepInputs = false;
    ctl.selected = p ? id : null;
    for (const row of document.querySelectorAll(".prow")) row.classList.toggle("selected", row.dataset.product === id);
    $("product-editor").hidden = !p;
    if (!p) return;
    $("ed-name").textContent = p.name + (p.name_en ? " · " + p.name_en : "");
    $("ed-meta").textContent = `${p.enterprise || ""} · ${p.id} · 目录价 catalogue ${yuan(p.catalogue_price)}` + (p.was_price ? ` · 原价 was ${yuan(p.was_price)}` : "");
    if (!keepInputs || !editorDirty) {
      editorDirty = false;
      $("ed-price").value = p.price ?? "";
      $("ed-stock").value = p.stock ?? "";
      $("ed-promo").value = p.promo || "";
      $("ed-error").textContent = "";
    }
  }

  $("ed-save").addEventListener("click", async (e) => {
    const p = ctl.productById.get(ctl.selected);
    if (!p) return;
    const body = {};
    const price = $("ed-price").value.trim();
    const stock = $("ed-stock").value.trim();
    const promo = $("ed-promo").value.trim();
    if (price === "") { if ((p.overridden || []).includes("price")) body.price = null; }
    else if (Number(price) !== p.price) body.price = Number(price);
    if (stock === "") { if ((p.overridden || []).includes("stock")) body.stock = null; }
    else if (Number(stock) !== p.stock) body.stock = Number(stock);
    if (promo !== (p.promo || "")) body.promo = promo;
    if (!Object.keys(body).length) { $("ed-error").textContent = "没有改动 Nothing changed"; return; }
    $("ed-error").textContent = "";
    const path = `${API}/products/${encodeURIComponent(p.id)}`;
    let r = await act("PATCH", path, body, { what: "修改商品 Edit product", button: e.currentTarget, handle: [400, 409] });
    if (r.status === 409) {
      const ok = await priceConfirm(p.name, body.price ?? p.price, p.catalogue_price);
      if (!ok) return;
      r = await act("PATCH", path, { ...body, confirm_price: true }, { what: "修改商品 Edit product", handle: [400] });
    }
    if (r.status === 400) { $("ed-error").textContent = failure(r); toast(failure(r), "error"); return; }
    if (r.ok) {
      const updated = r.data && r.data.product;
      if (updated) { updated._hay = p._hay; Object.assign(p, updated); }
      toast(`已更新 Updated: ${p.name}`, "ok", 2000);
      editorDirty = false;
      renderProducts();
      selectProduct(p.id);
    }
  });
  $("ed-card").addEventListener("click", (e) => {
    if (!ctl.selected) return;
    const cd = Number($("ed-countdown").value);
    showCard(ctl.selected, $("ed-slot").value, cd > 0 ? Math.round(cd) : null, e.currentTarget);
  });
  $("ed-rundown").addEventListener("click", () => {
    const studio = $("rundown-studio").value;
    if (!ctl.selected || !studio) return;
    const list = ctl.rundown[studio] || (ctl.rundown[studio] = []);
    if (list.includes(ctl.selected)) return toast("已在节目单中 Already in this rundown", "info", 1800);
    list.push(ctl.selected);
    saveRundown(`＋ ${productName(ctl.selected)} → ${studioName(studioById(studio))}`);
  });

  $("product-import").addEventListener("change", async (e) => {
    const file = e.target.files && e.target.files[0];
    e.target.value = "";
    if (!file) return;
    const text = await file.text();
    const json = /\.json$/i.test(file.name) || file.type === "application/json" || /^\s*[[{]/.test(text);
    const r = await act("POST", `${API}/products/import`, undefined, { raw: text, contentType: json ? "application/json" : "text/csv", what: "导入 Import" });
    if (r.ok) {
      const d = r.data || {};
      const n = d.imported ?? d.count ?? d.added ?? (Array.isArray(d.products) ? d.products.length : null);
      toast(`已导入 Imported ${file.name}` + (n != null ? `: ${n}` : ""), "ok");
      loadProducts();
    }
  });

  function fillProductOptions() {
    let dl = $("product-options");
    if (!dl) { dl = h("datalist", { id: "product-options" }); document.body.append(dl); }
    dl.replaceChildren(...ctl.products.map((p) => h("option", { value: p.id, label: `${p.name} · ${p.enterprise || ""} · ${yuan(p.price)}` })));
  }

  // ---------------------------------------------------------------- rundown
  async function loadRundown() {
    const r = await api("GET", `${API}/rundown`);
    ctl.rundownAvailable = r.ok;
    if (r.ok) setRundown((r.data && r.data.studios) || {});
    else $("rundown-status").textContent = r.status === 401 ? "" : "节目单不可用 Rundown unavailable: " + failure(r);
  }
  function setRundown(studios) {
    if (rundownSaving) return;
    ctl.rundown = JSON.parse(JSON.stringify(studios || {}));
    renderRundown();
  }
  let rundownSaving = false;
  async function saveRundown(what) {
    renderRundown();
    rundownSaving = true;
    const r = await act("PUT", `${API}/rundown`, { studios: ctl.rundown }, { what: "节目单 Rundown" });
    rundownSaving = false;
    if (r.ok) {
      ctl.rundownAvailable = true;
      $("rundown-status").textContent = "已保存 Saved " + hms(Date.now() / 1000);
      if (what) toast(what, "ok", 1800);
      if (r.data && r.data.studios) setRundown(r.data.studios);
    } else {
      $("rundown-status").textContent = "未保存 Not saved: " + failure(r);
    }
  }
  function fillRundownStudios(studios) {
    const sel = $("rundown-studio");
    const keep = sel.value;
    sel.replaceChildren(...studios.map((s) => h("option", { value: s.id }, studioName(s))));
    if (studios.some((s) => s.id === keep)) sel.value = keep;
    renderRundown();
  }
  $("rundown-studio").addEventListener("change", () => renderRundown());

  let dragFrom = -1;
  function renderRundown() {
    const studio = $("rundown-studio").value;
    const items = (studio && ctl.rundown[studio]) || [];
    const onAir = new Set(((ctl.state && ctl.state.cards) || []).map((c) => c.product));
    const list = $("rundown-list");
    if (!items.length) {
      list.replaceChildren(h("li", { class: "empty" }, ...bi("节目单为空", "This studio's rundown is empty")));
      return;
    }
    list.replaceChildren(...items.map((pid, i) => {
      const p = ctl.productById.get(pid);
      const move = (d) => () => { const a = ctl.rundown[studio]; const j = i + d; if (j < 0 || j >= a.length) return; [a[i], a[j]] = [a[j], a[i]]; saveRundown(); };
      const row = h("li", { class: "rrow" + (onAir.has(pid) ? " onair" : ""), draggable: "true", dataset: { product: pid, index: i } },
        h("span", { class: "idx", title: "拖动排序 drag to reorder" }, i + 1),
        h("span", { class: "nm" }, p ? p.name : pid, p ? h("span", { class: "en" }, `  ${p.enterprise || ""} · `) : null, p ? h("span", { class: "price" }, yuan(p.price)) : h("span", { class: "muted" }, " (未知 unknown)")),
        h("span", { class: "acts" },
          h("button", { class: "btn small onair", title: "主卡上屏 Show as main card", onclick: (e) => showCard(pid, "main", null, e.currentTarget) }, "上屏"),
          h("button", { class: "btn small", title: "发提示给主持人 Cue the host", onclick: (e) => sendCue(studio, pid, "", e.currentTarget) }, "提示")),
        h("span", { class: "acts" },
          h("button", { class: "btn small ghost", title: "上移 Up", disabled: i === 0, onclick: move(-1) }, "↑"),
          h("button", { class: "btn small ghost", title: "下移 Down", disabled: i === items.length - 1, onclick: move(1) }, "↓"),
          h("button", { class: "btn small ghost danger", title: "移除 Remove", onclick: () => { ctl.rundown[studio].splice(i, 1); saveRundown(); } }, "✕")));
      row.addEventListener("dragstart", (e) => { dragFrom = i; row.classList.add("dragging"); e.dataTransfer.effectAllowed = "move"; e.dataTransfer.setData("text/plain", pid); });
      row.addEventListener("dragend", () => row.classList.remove("dragging"));
      row.addEventListener("dragover", (e) => { e.preventDefault(); row.classList.add("drop-above"); });
      row.addEventListener("dragleave", () => row.classList.remove("drop-above"));
      row.addEventListener("drop", (e) => {
        e.preventDefault();
        row.classList.remove("drop-above");
        const a = ctl.rundown[studio];
        if (dragFrom < 0 || dragFrom === i) return;
        const [moved] = a.splice(dragFrom, 1);
        a.splice(dragFrom < i ? i - 1 : i, 0, moved);
        dragFrom = -1;
        saveRundown();
      });
      return row;
    }));
  }

  // ---------------------------------------------------------------- cues
  function buildCueViews(studios) {
    cueViews.clear();
    $("cue-list").replaceChildren(...studios.map((s) => {
      const product = h("input", { list: "product-options", placeholder: "商品编号 product id (可选 optional)", spellcheck: "false" });
      const productLabel = h("span", { class: "muted small" });
      product.addEventListener("input", () => { const p = ctl.productById.get(product.value); productLabel.textContent = p ? `${p.name} ${yuan(p.price)}` : ""; });
      const message = h("input", { placeholder: "给主持人的话 Message to the host", maxlength: "500" });
      const current = h("div", { class: "cur-cue" });
      const send = h("button", { class: "btn small primary" }, ...bi("发送", "Send"));
      const next = h("button", { class: "btn small ghost", title: "节目单中的下一个 next product in the rundown" }, ...bi("下一个", "Next"));
      send.addEventListener("click", async () => {
        const r = await sendCue(s.id, product.value.trim() || null, message.value, send);
        if (r && r.ok) message.value = "";
      });
      // Sent with Enter: the field lets go of the focus, so the next number key switches, not types.
      message.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); message.blur(); send.click(); } });
      next.addEventListener("click", () => {
        const list = ctl.rundown[s.id] || [];
        const cur = ctl.state && studioById(s.id) && (studioById(s.id).cue || {}).product;
        const at = list.indexOf(cur);
        const pid = list[at + 1] || list[0];
        if (!pid) return toast("节目单为空 Rundown is empty", "info", 1800);
        product.value = pid;
        product.dispatchEvent(new Event("input"));
      });
      const root = h("div", { class: "scard", dataset: { studio: s.id } },
        h("div", { class: "scard-head" }, h("b", null, studioName(s)), h("span", { class: "muted small" }, s.place || ""), h("span", { class: "right tally-slot" })),
        current,
        h("div", { class: "row" }, product, next, productLabel),
        h("div", { class: "row" }, message, send));
      cueViews.set(s.id, { root, current, product, message, tally: root.querySelector(".tally-slot") });
      return root;
    }));
  }
  function renderCues(s) {
    eachStudioView(s, cueViews, (st, v, tally, signal) => {
      const cue = st.cue;
      v.current.hidden = !cue || (!cue.product && !cue.message);
      // The host reads "present now" only while on air, else "you're next" (join page, hostapi.py).
      const when = tally === "pgm" ? "现在介绍 now" : "下一个 next";
      if (cue) v.current.textContent = `当前提示 Current cue (${when})${cue.at ? " " + hms(cue.at) : ""}: ` + [cue.product ? productName(cue.product) : "", cue.message || ""].filter(Boolean).join(" — ");
      v.tally.replaceChildren(tally ? h("span", { class: "tally " + tally }, tally.toUpperCase()) : "",
        h("span", { class: signalBadge(signal) }, signal === "ok" ? "ONLINE" : signal === "none" ? "NO SIGNAL" : "OFFLINE"));
    });
  }
  async function sendCue(studio, product, message, button) {
    return act("POST", `${API}/studios/${encodeURIComponent(studio)}/cue`, { product: product || null, message: message || "" },
      { what: "提示 Cue", button, done: `已发送提示 Cue sent → ${studioName(studioById(studio))}` });
  }

  // ---------------------------------------------------------------- audio
  const gainSend = new Map(); // studio -> timer of the next gain to send (a fader sends ~8 times a second)
  const faderMoved = new Map(); // studio -> when the crew last moved its fader: the server's value waits
  function buildAudioViews(studios) {
    audioViews.clear();
    const program = h("div", { class: "scard" },
      h("div", { class: "scard-head" }, h("b", null, ...bi("节目总线", "Program")), h("span", { class: "right mono small", id: "pgm-audio-text" })),
      h("div", { class: "meter-h", id: "pgm-meter-h" }, h("div", { class: "rms" }), h("div", { class: "peak" }), h("div", { class: "scale" })));
    $("audio-strips").replaceChildren(program, ...studios.map((s) => {
      const fader = h("input", { type: "range", min: "-60", max: "12", step: "0.5", value: "0", "data-role": "director", title: "增益 gain (dB)" });
      const db = h("span", { class: "db" }, "0.0 dB");
      const mute = h("button", { class: "btn small mute", "data-role": "director" }, ...bi("静音", "Mute"));
      const meter = h("div", { class: "meter-h" }, h("div", { class: "rms" }), h("div", { class: "peak" }), h("div", { class: "scale" }));
      const reading = h("span", { class: "muted small mono" });
      fader.addEventListener("input", () => {
        const gain = Number(fader.value);
        db.textContent = `${gain > 0 ? "+" : ""}${gain.toFixed(1)} dB`;
        clearTimeout(gainSend.get(s.id));
        faderMoved.set(s.id, Date.now());
        gainSend.set(s.id, setTimeout(() => setAudio(s.id, { gain_db: gain }), 120));
      });
      fader.addEventListener("dblclick", () => { fader.value = "0"; fader.dispatchEvent(new Event("input")); });
      relativeDrag(fader);
      mute.addEventListener("click", () => setAudio(s.id, { mute: !mute.classList.contains("on") }));
      const root = h("div", { class: "scard", dataset: { studio: s.id } },
        h("div", { class: "strip" }, h("span", { class: "nm" }, studioName(s)), h("div", { class: "fader-box" }, fader, dbScale()), db, mute),
        meter, h("div", { class: "row" }, reading));
      if (!isDirector()) { fader.disabled = true; mute.disabled = true; }
      audioViews.set(s.id, { root, fader, db, mute, meter, reading });
      return root;
    }));
  }
  /** A fader moves by how far it is dragged, from where it is: a click never jumps the gain. */
  function relativeDrag(fader) {
    let start = null;
    fader.addEventListener("pointerdown", (e) => {
      if (fader.disabled || e.button !== 0) return;
      e.preventDefault();
      fader.focus();
      fader.setPointerCapture(e.pointerId);
      start = { x: e.clientX, value: Number(fader.value) };
    });
    fader.addEventListener("pointermove", (e) => {
      if (!start) return;
      const min = Number(fader.min), max = Number(fader.max);
      const v = start.value + ((e.clientX - start.x) / Math.max(1, fader.clientWidth)) * (max - min);
      const stepped = Math.round(Math.max(min, Math.min(max, v)) * 2) / 2;
      if (stepped !== Number(fader.value)) { fader.value = String(stepped); fader.dispatchEvent(new Event("input")); }
    });
    const end = (e) => { if (start) { start = null; if (fader.hasPointerCapture(e.pointerId)) fader.releasePointerCapture(e.pointerId); } };
    fader.addEventListener("pointerup", end);
    fader.addEventListener("pointercancel", end);
  }
  /** dB marks under a fader (-60 to +12 dB, linear in dB like the fader). */
  function dbScale() {
    return h("div", { class: "db-scale" }, ...[-60, -40, -20, -10, 0, 6, 12].map((d) =>
      h("span", { style: `left:${((d + 60) / 72) * 100}%` }, d > 0 ? "+" + d : String(d))));
  }
  async function setAudio(studio, body) {
    if (!isDirector()) return;
    await act("POST", `${API}/audio/${encodeURIComponent(studio)}`, body, { what: "音频 Audio" });
  }
  function renderAudio(audio) {
    if (!audio) return;
    const prog = audio.program;
    setMeter($("pgm-meter"), prog);
    setMeter($("pgm-meter-h"), prog);
    const text = $("pgm-audio-text");
    if (text) text.textContent = prog ? `peak ${fmtDb(prog.peak_dbfs)} · rms ${fmtDb(prog.rms_dbfs)}` + (prog.limiter_db ? ` · limiter ${Number(prog.limiter_db).toFixed(1)} dB` : "") : "—";
    for (const [id, a] of Object.entries(audio.studios || {})) {
      const v = audioViews.get(id);
      const t = tiles.get(id);
      if (t) setMeter(t.meter, a);
      if (!v) continue;
      setMeter(v.meter, a);
      if (document.activeElement !== v.fader && Date.now() - (faderMoved.get(id) || 0) > 1500 && a.gain_db != null) {
        v.fader.value = a.gain_db;
        v.db.textContent = `${a.gain_db > 0 ? "+" : ""}${Number(a.gain_db).toFixed(1)} dB`;
      }
      v.mute.classList.toggle("on", !!a.mute);
      v.mute.replaceChildren(...(a.mute ? bi("已静音", "Muted") : bi("静音", "Mute")));
      v.reading.textContent = a.peak_dbfs != null ? `peak ${fmtDb(a.peak_dbfs)} · rms ${fmtDb(a.rms_dbfs)}` + (a.buffer_ms != null ? ` · buffer ${a.buffer_ms} ms` : "") : "无信号 no signal";
    }
  }
  const fmtDb = (v) => (v == null || !isFinite(v) ? "-∞" : Number(v).toFixed(1)) + " dBFS";

  // Meters move faster than the once-a-second state: poll the cheap audio view while visible.
  let audioPoll = true;
  let audioBusy = false;
  async function pollAudio() {
    if (!audioPoll || audioBusy || !ctl.me || document.hidden || !ctl.state) return;
    audioBusy = true;
    try {
      const r = await api("GET", `${API}/audio`);
      if (r.ok && r.data) renderAudio(r.data);
      else if (r.status === 404) audioPoll = false;
    } finally {
      audioBusy = false;
    }
  }

  // ---------------------------------------------------------------- studios: stats, links
  async function loadLinks() {
    if (!handlesLinks()) return;
    const r = await api("GET", `${API}/links`);
    if (!r.ok) return;
    for (const l of (r.data && r.data.links) || []) ctl.links.set(l.studio, l);
    if (ctl.state) renderStudiosTab(ctl.state);
  }
  function buildStudiosTab(studios) {
    studioViews.clear();
    $("studio-table").replaceChildren(...studios.map((s) => {
      const state = h("span", { class: "badge" });
      const kv = h("div", { class: "kv" });
      const link = h("span", { class: "link", title: "" }, "—");
      const copy = h("button", { class: "btn small copy", onclick: () => copyLink(s.id) }, ...bi("复制", "Copy"));
      const qr = h("button", { class: "btn small qr", title: "二维码 QR code", onclick: (e) => showQr(s.id, e.currentTarget) }, "QR");
      const kick = h("button", { class: "btn small danger kick", "data-role": "director", onclick: (e) => kickStudio(s.id, e.currentTarget) }, ...bi("踢出", "Kick"));
      const reissue = h("button", { class: "btn small reissue", "data-role": "director", onclick: (e) => reissueLink(s.id, e.currentTarget) }, ...bi("重发链接", "Reissue link"));
      // RTMP ingest (server.rtmp_ingest): for encoders without WebRTC; the key is the join token.
      const rtmp = h("span", { class: "link rtmp", title: "" }, "");
      const rtmpCopy = h("button", { class: "btn small copy-rtmp", onclick: () => copyLink(s.id, "rtmp_url") }, ...bi("复制 RTMP", "Copy RTMP"));
      const rtmpRow = h("div", { class: "row rtmp-row", style: "display:none" }, rtmp, rtmpCopy);
      // A join link puts its holder on air: only directors and the links role see them (the server
      // refuses the rest anyway), so a producer's page does not show them at all.
      const links = handlesLinks();
      const root = h("div", { class: "scard", dataset: { studio: s.id } },
        h("div", { class: "scard-head" }, h("b", null, studioName(s)), h("span", { class: "muted small" }, [s.name_en, s.place].filter(Boolean).join(" · ")), h("span", { class: "right" }, state)),
        kv,
        links ? h("div", { class: "row" }, link, copy, qr) : null,
        links ? rtmpRow : null,
        links ? h("div", { class: "row" }, kick, reissue) : null);
      studioViews.set(s.id, { root, state, kv, link, rtmp, rtmpRow });
      return root;
    }));
  }
  function renderStudiosTab(s) {
    for (const st of s.studios || []) {
      const v = studioViews.get(st.id);
      if (!v) continue;
      const stats = st.stats || {};
      v.state.className = "badge " + (st.online ? healthOf(st.stats) : "offline");
      v.state.textContent = st.online ? `在线 ONLINE · ${stats.state || ""}` : "离线 OFFLINE";
      // An RTMP encoder has no way back to its operator: no tally, no cue on its side.
      if (st.online && stats.transport === "rtmp") v.state.textContent += " · RTMP（无提示灯 no tally）";
      const cells = [["分辨率 res", stats.resolution], ["帧率 fps", stats.fps], ["码率 kbit/s", stats.bitrate_kbps], ["丢包 loss %", stats.packet_loss_pct],
        ["抖动 jitter ms", stats.jitter_ms], ["延迟 rtt ms", stats.rtt_ms], ["编码 codec", stats.codec], ["连接 state", stats.state]];
      v.kv.replaceChildren(...cells.flatMap(([k, val]) => [h("span", null, k), h("b", null, val == null ? "—" : typeof val === "number" ? +val.toFixed(2) : val)]));
      const link = ctl.links.get(st.id);
      v.link.textContent = link ? link.join_url : "—";
      v.link.title = link ? link.join_url : "";
      v.rtmpRow.style.display = link && link.rtmp_url ? "" : "none";
      v.rtmp.textContent = link && link.rtmp_server ? `RTMP ${link.rtmp_server} · 密钥 key = 令牌 token` : "";
      v.rtmp.title = link && link.rtmp_url ? link.rtmp_url : "";
    }
  }
  async function copyText(text) {
    try { await navigator.clipboard.writeText(text); return true; } catch (_) {
      const ta = h("textarea", { style: "position:fixed;left:-9999px" }, text);
      document.body.append(ta); ta.select();
      const ok = document.execCommand("copy"); ta.remove(); return ok;
    }
  }
  async function copyLink(studio, field = "join_url") {
    if (!ctl.links.has(studio)) await loadLinks();
    const link = ctl.links.get(studio);
    if (!link || !link[field]) return toast("没有链接 No link", "error");
    const ok = await copyText(link[field]);
    toast(ok ? `已复制 Copied: ${studioName(studioById(studio))}` : "复制失败 Copy failed", ok ? "ok" : "error", 2000);
  }
  function showQr(studio, anchor) {
    const pop = $("qr-pop");
    if (!pop.hidden && pop.dataset.studio === studio) { pop.hidden = true; return; }
    pop.dataset.studio = studio;
    const img = $("qr-img");
    img.classList.remove("broken");
    img.onerror = () => { img.classList.add("broken"); $("qr-caption").textContent = "二维码不可用 QR not available"; };
    img.src = `${API}/studios/${encodeURIComponent(studio)}/qr.svg?t=${Date.now()}`;
    $("qr-caption").textContent = `${studioName(studioById(studio))} · 扫码加入 scan to join`;
    const r = anchor.getBoundingClientRect();
    pop.style.left = Math.max(8, Math.min(innerWidth - 236, r.left - 100)) + "px";
    pop.style.top = Math.max(8, Math.min(innerHeight - 260, r.bottom + 6)) + "px";
    pop.hidden = false;
  }
  document.addEventListener("mousedown", (e) => { if (!e.target.closest("#qr-pop") && !e.target.closest("button")) $("qr-pop").hidden = true; });
  async function kickStudio(studio, button) {
    const name = studioName(studioById(studio));
    const ok = await confirmDialog("踢出直播间 Kick studio", [
      h("p", null, `${name}: 立即断开，并作废其加入链接。要让主持人回来，请“重发链接”并发送新链接。`),
      h("p", { class: "muted" }, "Ends the studio's session now and voids its join link. To let the host back in, reissue the link and send them the new one."),
    ], bi("踢出", "Kick"));
    if (!ok) return;
    const r = await act("POST", `${API}/studios/${encodeURIComponent(studio)}/kick`, {}, { what: "踢出 Kick", button, done: `已踢出 Kicked ${name}` });
    if (r.ok) loadLinks();
  }
  async function reissueLink(studio, button) {
    const ok = await confirmDialog("重发加入链接 Reissue join link", [
      h("p", null, `${studioName(studioById(studio))}: 旧链接立即失效，当前连接会断开；请把新链接发给主持人。`),
      h("p", { class: "muted" }, "The old link stops working at once and the studio is disconnected; send the host the new link."),
    ], bi("重发", "Reissue"));
    if (!ok) return;
    const r = await act("POST", `${API}/studios/${encodeURIComponent(studio)}/reissue`, {}, { what: "重发链接 Reissue", button });
    if (r.ok && r.data) {
      const old = ctl.links.get(studio) || { studio };
      ctl.links.set(studio, { ...old, ...r.data, studio });
      renderStudiosTab(ctl.state);
      const copied = r.data.join_url ? await copyText(r.data.join_url) : false;
      toast(`新链接已生成${copied ? "并复制" : ""} New link issued${copied ? " and copied" : ""}`, "ok");
    }
  }

  // ---------------------------------------------------------------- outputs
  let outputsShown = null;
  function renderOutputs(outs) {
    const abs = (u) => (u && u.startsWith("/") ? location.origin + u : u);
    const pulls = ["hls", "flv", "whep"].filter((k) => outs[k]);
    const rtmp = Array.isArray(outs.rtmp) ? outs.rtmp : [];
    const rec = outs.recording;
    const recOn = !!(rec && rec.state && rec.state !== "off" && rec.state !== "stopped");
    // Rows are rebuilt only when their shape changes (buttons stay put); rates update in place.
    const key = JSON.stringify([pulls.map((k) => [k, outs[k].url, !!outs[k].up]), rtmp.map((d) => [d.name, d.url, d.state, !!d.up, d.last_error]), recOn, isDirector()]);
    if (key !== outputsShown) {
      outputsShown = key;
      const rows = pulls.map((kind) => {
        const o = outs[kind];
        return h("div", { class: "out-row", dataset: { output: kind } },
          h("span", { class: "kind" }, kind),
          h("span", { class: "link", title: abs(o.url) }, abs(o.url) || "—"),
          h("span", null, h("span", { class: o.up ? "up" : "down" }, o.up ? "UP" : "DOWN"), h("span", { class: "muted small rate" }), " ",
            o.url ? h("button", { class: "btn small ghost", onclick: () => copyText(abs(o.url)).then((ok) => toast(ok ? "已复制 Copied" : "复制失败 Copy failed", ok ? "ok" : "error", 1500)) }, ...bi("复制", "Copy")) : null));
      });
      $("outputs-list").replaceChildren(h("div", { class: "sub-panel" }, h("div", { class: "sub-head" }, ...bi("拉流地址", "Pull URLs")), ...(rows.length ? rows : [h("div", { class: "empty" }, "—")])));
      $("rec-toggle").replaceChildren(...(recOn ? bi("停止录制", "Stop") : bi("开始录制", "Start")));
      $("rec-toggle").dataset.on = recOn ? "1" : "";
      $("rtmp-list").replaceChildren(...(rtmp.length ? rtmp.map((d) => h("div", { class: "out-row", dataset: { rtmp: d.name } },
        h("span", { class: "kind", title: d.name }, d.name),
        h("span", { class: "link", title: d.url }, d.url),
        h("span", null, h("span", { class: d.up ? "up" : "down" }, d.state || (d.up ? "live" : "down")),
          d.last_error ? h("span", { class: "muted small", title: d.last_error }, " ⚠") : null, h("span", { class: "muted small rate" }), " ",
          h("button", { class: "btn small ghost danger", "data-role": "director", disabled: !isDirector(), onclick: (e) => removeRtmp(d.name, e.currentTarget) }, ...bi("移除", "Remove")))))
        : [h("div", { class: "empty" }, ...bi("无推流目标", "No RTMP destinations"))]));
    }
    const rate = (o) => ` ${o.bitrate_bps ? Math.round(o.bitrate_bps / 1000) + " kbit/s" : ""}${o.clients != null ? ` · ${o.clients} 观看 clients` : ""}`;
    for (const kind of pulls) { const r = document.querySelector(`#outputs-list [data-output=${kind}] .rate`); if (r) r.textContent = rate(outs[kind]); }
    for (const d of rtmp) { const r = document.querySelector(`#rtmp-list [data-rtmp="${CSS.escape(d.name)}"] .rate`); if (r) r.textContent = rate(d); }
    $("rec-state").className = "badge " + (recOn ? "poor" : "");
    $("rec-state").textContent = rec ? (recOn ? `● 录制中 REC ${rec.uptime_s ? mmss(rec.uptime_s) : ""}` + (rec.files_written ? ` · ${rec.files_written} 文件 files` : "") : "未录制 off") : "—";
  }

  // How far behind live each delayed output is (GET /api/shows/{show} "delays"), and the dump.
  let delayOutputs = "";
  function renderDelays(delays, outs) {
    const keys = Object.keys(delays);
    const choices = ["hls", "flv", "whep"].filter((k) => outs[k]).concat(outs.webhook ? ["webhook"] : [], (outs.rtmp || []).map((d) => `rtmp:${d.name}`));
    if (choices.join() !== delayOutputs) {
      delayOutputs = choices.join();
      $("delay-output").replaceChildren(...choices.map((k) => h("option", { value: k }, k)));
    }
    $("dump-btn").disabled = !keys.length || !isDirector();
    $("delay-list").replaceChildren(...(keys.length ? [] : [h("div", { class: "empty" }, ...bi("无延播", "No output is delayed"))]),...keys.map((k) => {
      const d = delays[k];
      return h("div", { class: "out-row", dataset: { delay: k } },
        h("span", { class: "kind" }, k),
        h("span", null, `延播 delay ${d.delay_s} s`),
        h("span", { class: "behind" }, `落后直播 behind live ${Number(d.behind_s).toFixed(1)} s`, d.dumps ? ` · ${d.dumps} 次清除 dumps` : ""));
    }));
  }
  $("delay-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const output = $("delay-output").value;
    const seconds = Number($("delay-seconds").value);
    act("POST", `${API}/delay`, { output, delay_s: seconds }, { what: "延播 Delay", done: `${output}: 延播 delay ${seconds} s` });
  });
  $("dump-btn").addEventListener("click", async (e) => {
    const button = e.currentTarget;
    const ok = await confirmDialog("清除延播 Dump", h("div", null, "尚未播出的延播内容将换成垫片。Everything the delayed outputs have not aired yet becomes the slate."), bi("清除", "Dump"));
    if (ok) await act("POST", `${API}/dump`, undefined, { what: "Dump", button, done: "已清除 Dumped" });
  });

  $("rec-toggle").addEventListener("click", (e) => {
    const on = !$("rec-toggle").dataset.on;
    act("POST", `${API}/recording`, { on }, { what: "录制 Recording", button: e.currentTarget, done: on ? "开始录制 Recording started" : "停止录制 Recording stopped" });
  });
  $("rtmp-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = $("rtmp-name").value.trim();
    const url = $("rtmp-url").value.trim();
    const r = await act("POST", `${API}/outputs/rtmp`, { name, url }, { what: "RTMP", done: `已添加 Added ${name}` });
    if (r.ok) { $("rtmp-name").value = ""; $("rtmp-url").value = ""; }
  });
  async function removeRtmp(name, button) {
    const ok = await confirmDialog("移除推流 Remove RTMP destination", h("div", null, `${name}: 停止推流 stop pushing to it?`), bi("移除", "Remove"));
    if (ok) await act("DELETE", `${API}/outputs/rtmp/${encodeURIComponent(name)}`, undefined, { what: "RTMP", button, done: `已移除 Removed ${name}` });
  }

  // ---------------------------------------------------------------- event log
  const eventKey = (e) => `${e.at}|${e.kind}|${e.actor}|${JSON.stringify(e.detail || {})}`;
  const seenEvents = new Set();
  async function loadEvents(limit = 200) {
    const r = await api("GET", `${API}/events?limit=${limit}`);
    if (r.ok) addEvents((r.data && r.data.events) || [], false);
  }
  function addEvents(list, live) {
    const fresh = list.filter((e) => e && !seenEvents.has(eventKey(e)));
    if (!fresh.length) return;
    for (const e of fresh) seenEvents.add(eventKey(e));
    ctl.events.push(...fresh);
    ctl.events.sort((a, b) => (a.at || 0) - (b.at || 0));
    while (ctl.events.length > MAX_EVENTS) seenEvents.delete(eventKey(ctl.events.shift()));
    renderLog(live ? new Set(fresh) : null);
    // Some events change what other panels show.
    if (fresh.some((e) => /^(product|card|products|catalogue)\./.test(e.kind || ""))) reloadProducts();
    if (fresh.some((e) => /^rundown/.test(e.kind || "")) && !rundownSaving) loadRundown();
    if (fresh.some((e) => /^(link\.|studio\.kicked)/.test(e.kind || ""))) loadLinks();
  }
  function describeDetail(d) {
    if (!d || typeof d !== "object") return "";
    const parts = [];
    for (const [k, v] of Object.entries(d)) {
      if (v == null || v === "") continue;
      let val = typeof v === "object" ? JSON.stringify(v) : String(v);
      if (k === "studio" || k === "from" || k === "to") val = studioName(studioById(v)) || val;
      if (k === "product") val = productName(v);
      if (k === "at") continue;
      parts.push(`${k}=${val}`);
    }
    return parts.join("  ");
  }
  function renderLog(fresh) {
    const words = $("log-filter").value.toLowerCase().split(/\s+/).filter(Boolean);
    const rows = [];
    for (let i = ctl.events.length - 1; i >= 0 && rows.length < 300; i--) {
      const e = ctl.events[i];
      const detail = describeDetail(e.detail);
      const hay = `${e.kind} ${e.actor} ${detail}`.toLowerCase();
      if (!words.every((w) => hay.includes(w))) continue;
      const cls = "k-" + String(e.kind || "").split(".")[0] + (fresh && fresh.has(e) ? " fresh" : "");
      rows.push(h("li", { class: cls }, h("span", { class: "t" }, e.at ? hms(e.at) : ""), h("span", { class: "k" }, e.kind), h("span", { class: "a", title: e.actor }, e.actor), h("span", { class: "d", title: detail }, detail)));
    }
    $("log").replaceChildren(...(rows.length ? rows : [h("li", { class: "empty-log" }, ...bi(words.length ? "没有匹配的事件" : "暂无事件", words.length ? "No matching events" : "No events yet"))]));
  }
  $("log-filter").addEventListener("input", debounce(() => renderLog(null), 150));

  // ---------------------------------------------------------------- tabs, clock, timers
  for (const t of document.querySelectorAll("#tabs .tab")) {
    t.addEventListener("click", () => {
      for (const x of document.querySelectorAll("#tabs .tab")) x.classList.toggle("active", x === t);
      for (const p of document.querySelectorAll(".tab-page")) p.classList.toggle("active", p.id === "tab-" + t.dataset.tab);
      if (t.dataset.tab === "studios") loadLinks();
    });
  }
  function tick() {
    $("clock").textContent = hms(Date.now() / 1000);
    $("clock").title = zoneName ? `${zoneName} (the show's time zone)` : "";
    tickCountdowns();
    checkContact();
    pollState();
  }
  setInterval(tick, 1000);
  setInterval(pollAudio, 250);
  document.addEventListener("visibilitychange", () => { if (!document.hidden && ctl.me && !ctl.ws && !ctl.bearer) connectWs(); });
  setConn();
  setKeysArmed();
  tick();
  boot();
})();
