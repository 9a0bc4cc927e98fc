// Little Cats: the chat page.
//
// One ES module, no framework, no build step. It speaks the JSON-over-WebSocket protocol of
// docs/WEB.md: the server sends arrays of events (processed in order), the page sends one
// object per message. Reading this as a guide to writing a client or a bot:
//
//   1. on opening, the server sends `hello`; answer {"type":"nick","nick":...} (and
//      "password" when the server answered `password`: the nickname is registered);
//   2. `welcome`, then for every room you enter: its recent lines (`history-start`,
//      `history`..., `history-end`), then `entered` with its members, then live events;
//   3. what the user types in a room goes as {"type":"line","room":R,"text":...}: the server
//      interprets `/commands` exactly as on telnet, for that room.
//
// Safety: every piece of text from the server or the catalog reaches the document through
// textContent, createTextNode or setAttribute of harmless attributes; never as HTML.

'use strict';

// ---------------------------------------------------------------------------------------
// Settings and small helpers

const LANGS = ['pt', 'en'];
const LANG_KEY = 'littlecats-lang'; // the PT/EN switch's choice (localStorage)
const NOTIFY_KEY = 'littlecats-notify'; // whether mention notifications are on (localStorage)
const MAX_ROWS = 2000; // message rows kept per conversation (the oldest are dropped)
const PAGE_SIZE = 50; // lines asked for when scrolling up
const PAGE_TIMEOUT_MS = 15000; // give up waiting for a page of history after this
const BACKOFF_FIRST_S = 1;
const BACKOFF_MAX_S = 30;
const NICK_COLOURS = 12; // .nick-c0 ... .nick-c11 in style.css
const NARROW = window.matchMedia('(max-width: 699px)');
const COLLAPSED_MEMBERS = window.matchMedia('(max-width: 999px)');

const $ = (id) => document.getElementById(id);

/** An element with classes and (text-only) children. */
function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

function storageGet(key) {
  try { return window.localStorage.getItem(key); } catch { return null; }
}

function storageSet(key, value) {
  try { window.localStorage.setItem(key, value); } catch { /* private mode: not kept */ }
}

/** Nicknames and room names compare case-insensitively (the server folds them). */
const fold = (name) => String(name).toLowerCase();
const roomKey = (room) => fold(room);
const privateKey = (nick) => '@' + fold(nick);

// ---------------------------------------------------------------------------------------
// The catalog: every visible string, by message id, from /i18n/<lang>.json

const i18n = { lang: 'pt', messages: {}, cache: new Map() };

function initialLanguage() {
  const saved = storageGet(LANG_KEY);
  if (LANGS.includes(saved)) return saved;
  for (const tag of navigator.languages || [navigator.language || '']) {
    const primary = fold(tag).split('-')[0];
    if (LANGS.includes(primary)) return primary;
  }
  return 'pt';
}

async function loadCatalog(lang) {
  if (!i18n.cache.has(lang)) {
    const response = await fetch(`/i18n/${lang}.json`, { cache: 'no-cache' });
    if (!response.ok) throw new Error(`catalog ${lang}: HTTP ${response.status}`);
    const body = await response.json();
    i18n.cache.set(lang, body.messages || {});
  }
  i18n.lang = lang;
  i18n.messages = i18n.cache.get(lang);
  document.documentElement.lang = lang;
}

/**
 * Fill a template's {field} placeholders with values, as text. Templates are Python format
 * strings: {{ and }} are literal braces, and a conversion or format spec ({n!r}, {n:.1f})
 * is ignored here.
 */
function fill(template, fields = {}) {
  return template.replace(/\{\{|\}\}|\{([A-Za-z_]\w*)(?:![rsa])?(?::[^{}]*)?\}/g,
    (whole, name) => {
      if (whole === '{{') return '{';
      if (whole === '}}') return '}';
      const value = fields[name];
      return value === undefined || value === null ? '' : String(value);
    });
}

/** The message `msgid` with `fields` filled in (the msgid itself when the catalog lacks it). */
function t(msgid, fields) {
  const template = i18n.messages[msgid];
  return template === undefined ? msgid : fill(template, fields);
}

/** Chat lines keep the telnet door's markers ("*** ", "!!! "): the page shows them as style. */
function splitMarker(text) {
  const match = /^(\*\*\*|!!!|-!-) ?/.exec(text);
  if (!match) return { text, error: false };
  return { text: text.slice(match[0].length), error: match[1] === '!!!' };
}

/** The page's fixed strings: data-i18n="msgid" (text) and data-i18n-<attr>="msgid". */
function translateStatic() {
  for (const node of document.querySelectorAll('[data-i18n]')) {
    node.textContent = t(node.dataset.i18n);
  }
  for (const attr of ['aria-label', 'title', 'placeholder']) {
    const data = 'data-i18n-' + attr;
    for (const node of document.querySelectorAll(`[${data}]`)) {
      node.setAttribute(attr, t(node.getAttribute(data)));
    }
  }
  for (const option of document.querySelectorAll('.lang-option')) {
    option.classList.toggle('current', option.dataset.lang === i18n.lang);
  }
}

// ---------------------------------------------------------------------------------------
// Times: the server's Unix seconds, shown in the reader's time zone and language

let clockFormat = null;
let dateFormat = null;

function makeTimeFormats() {
  clockFormat = new Intl.DateTimeFormat(i18n.lang, {
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  });
  dateFormat = new Intl.DateTimeFormat(i18n.lang, {
    day: '2-digit', month: '2-digit', year: 'numeric',
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  });
}

function timeElement(seconds) {
  const when = new Date(seconds * 1000);
  const node = el('time', 'when');
  node.setAttribute('datetime', when.toISOString());
  node.setAttribute('title', dateFormat.format(when));
  const today = new Date();
  const sameDay = when.toDateString() === today.toDateString();
  node.textContent = (sameDay ? clockFormat : dateFormat).format(when);
  return node;
}

const now = () => Date.now() / 1000;

// ---------------------------------------------------------------------------------------
// Nicknames: a colour from a hash, and mentions of our own

function nickColour(nick) {
  let hash = 2166136261; // FNV-1a, 32 bits
  for (const ch of fold(nick)) {
    hash ^= ch.codePointAt(0);
    hash = Math.imul(hash, 16777619) >>> 0;
  }
  return 'nick-c' + (hash % NICK_COLOURS);
}

function nickElement(nick) {
  return el('span', 'nick ' + nickColour(nick), nick);
}

let mentionPattern = null;

function setOwnNick(nick) {
  state.nick = nick;
  const escaped = nick.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // A whole word: no letter, digit, _ or - on either side (a nickname can end a sentence).
  mentionPattern = new RegExp(`(?<![\\p{L}\\p{N}_-])${escaped}(?![\\p{L}\\p{N}_-])`, 'giu');
}

/** Append `text` to `parent`, wrapping mentions of our nickname in <mark>; true if any. */
function appendWithMentions(parent, text, highlight) {
  if (!highlight || !mentionPattern) {
    parent.append(document.createTextNode(text));
    return false;
  }
  let last = 0;
  let found = false;
  for (const match of text.matchAll(mentionPattern)) {
    found = true;
    parent.append(document.createTextNode(text.slice(last, match.index)));
    parent.append(el('mark', 'mention', match[0]));
    last = match.index + match[0].length;
  }
  parent.append(document.createTextNode(text.slice(last)));
  return found;
}

const mentions = (text) => Boolean(mentionPattern) && text.search(mentionPattern) >= 0;

// ---------------------------------------------------------------------------------------
// Page state

const state = {
  nick: null, // our nickname, once welcomed
  password: null, // kept in memory only, to identify again after a reconnect
  lobby: '#lobby',
  welcomed: false,
  conversations: new Map(), // key (fold(room) or "@"+fold(nick)) -> conversation
  active: null, // the open conversation
  replyTo: null, // where a notice (a reply to what we typed) goes
  focusOnEnter: new Set(), // rooms we asked to join: open their tab when entered
  roomQueue: new Map(), // events for a room we are entering, shown once its tab exists
  historyBlocks: new Map(), // room key -> {room, count, lines} between history-start and -end
  entryReplay: new Map(), // room key -> a finished block waiting for `entered`
  roomList: [],
};

// ---------------------------------------------------------------------------------------
// Conversations: a tab in the sidebar and a log in the main pane, per room or private chat

let nextId = 1;
const rowSpecs = new WeakMap(); // row element -> what it shows (repainted on a language switch)

function makeConversation(kind, name) {
  const id = nextId++;
  const conv = {
    id, kind, name, key: kind === 'room' ? roomKey(name) : privateKey(name),
    topic: '', members: new Map(), unread: 0, mentioned: false, joined: false,
    oldest: null, paging: { inflight: false, exhausted: false, timer: null },
    lastTime: 0, lastId: 0, stick: true,
  };

  // The log: a scroll container with the "earlier lines" control on top, then the rows.
  conv.log = el('div', 'log');
  conv.log.id = `log-${id}`;
  conv.log.setAttribute('role', 'tabpanel');
  conv.log.setAttribute('tabindex', '0');
  conv.log.hidden = true;
  conv.top = el('div', 'log-top');
  conv.older = el('button', 'link-button older');
  conv.older.type = 'button';
  conv.older.dataset.testid = 'load-older';
  conv.older.addEventListener('click', () => requestOlder(conv));
  conv.topNote = el('span', 'log-top-note');
  conv.top.append(conv.older, conv.topNote);
  conv.rows = el('ol', 'rows');
  conv.log.append(conv.top, conv.rows);
  conv.log.addEventListener('scroll', () => onLogScroll(conv), { passive: true });
  conv.log.addEventListener('wheel', (event) => {
    if (event.deltaY < 0 && conv.log.scrollTop <= 0) requestOlder(conv);
  }, { passive: true });
  $('logs').append(conv.log);

  // The tab: a button with an unread badge, and (for all but the lobby) a close button.
  conv.tabRow = el('div', 'tab-row');
  conv.tabRow.setAttribute('role', 'presentation');
  conv.tab = el('button', 'tab');
  conv.tab.type = 'button';
  conv.tab.id = `tab-${id}`;
  conv.tab.setAttribute('role', 'tab');
  conv.tab.setAttribute('aria-selected', 'false');
  conv.tab.setAttribute('aria-controls', conv.log.id);
  conv.tab.tabIndex = -1;
  conv.tabName = el('span', 'tab-name');
  conv.badge = el('span', 'badge');
  conv.badge.hidden = true;
  conv.tab.append(el('span', 'tab-sigil', kind === 'room' ? '#' : '@'), conv.tabName, conv.badge);
  conv.tab.addEventListener('click', () => { activate(conv); closePanels(); focusComposer(); });
  conv.tabRow.append(conv.tab);
  conv.log.setAttribute('aria-labelledby', conv.tab.id);
  if (!(kind === 'room' && conv.key === roomKey(state.lobby))) {
    conv.close = el('button', 'tab-close');
    conv.close.type = 'button';
    conv.close.append(el('span', null, '×'));
    conv.close.firstChild.setAttribute('aria-hidden', 'true');
    conv.close.addEventListener('click', () => closeConversation(conv));
    conv.tabRow.append(conv.close);
  }
  (kind === 'room' ? $('room-tabs') : $('private-tabs')).append(conv.tabRow);

  state.conversations.set(conv.key, conv);
  labelConversation(conv);
  paintTop(conv);
  updatePrivatesEmpty();
  return conv;
}

/** The names, test ids and labels that follow a conversation's name and the language. */
function labelConversation(conv) {
  const shown = conv.kind === 'room' ? conv.name.replace(/^#/, '') : conv.name;
  conv.tabName.textContent = shown;
  conv.tab.dataset.testid = 'tab-' + (conv.kind === 'room' ? conv.name : '@' + conv.name);
  conv.log.dataset.testid = conv === state.active ? 'messages' : 'messages-' + conv.name;
  conv.older.textContent = t('web-history-load');
  if (conv.close) {
    conv.close.dataset.testid = 'close-' + (conv.kind === 'room' ? conv.name : '@' + conv.name);
    const label = t(conv.kind === 'room' ? 'web-close-room' : 'web-close-private',
      { room: conv.name, nick: conv.name });
    conv.close.setAttribute('aria-label', label);
    conv.close.setAttribute('title', label);
  }
  paintBadge(conv);
}

function ensureRoom(room) {
  return state.conversations.get(roomKey(room)) || makeConversation('room', room);
}

function ensurePrivate(nick) {
  return state.conversations.get(privateKey(nick)) || makeConversation('private', nick);
}

function removeConversation(conv) {
  clearTimeout(conv.paging.timer);
  conv.log.remove();
  conv.tabRow.remove();
  state.conversations.delete(conv.key);
  if (state.replyTo === conv) state.replyTo = null;
  if (state.active === conv) {
    state.active = null;
    activate(state.conversations.get(roomKey(state.lobby)) || first(state.conversations));
  }
  updatePrivatesEmpty();
  updateTotals();
}

const first = (map) => map.values().next().value || null;

/** The close button: leave a room (the server answers `exited`), or drop a private tab. */
function closeConversation(conv) {
  if (conv.kind === 'room') {
    if (!send({ type: 'part', room: conv.name })) removeConversation(conv);
  } else {
    removeConversation(conv);
  }
}

function updatePrivatesEmpty() {
  const any = [...state.conversations.values()].some((c) => c.kind === 'private');
  $('privates-empty').hidden = any;
}

/** Show `conv`: its log, tab, header and members; a room also asks the server for `names`. */
function activate(conv, { refresh = true } = {}) {
  if (!conv) return;
  const previous = state.active;
  if (previous && previous !== conv) {
    previous.stick = nearBottom(previous);
    previous.log.hidden = true;
    previous.tab.setAttribute('aria-selected', 'false');
    previous.tab.tabIndex = -1;
    previous.log.dataset.testid = 'messages-' + previous.name;
  }
  state.active = conv;
  conv.log.hidden = false;
  conv.log.dataset.testid = 'messages';
  conv.tab.setAttribute('aria-selected', 'true');
  conv.tab.tabIndex = 0;
  conv.unread = 0;
  conv.mentioned = false;
  paintBadge(conv);
  updateTotals();
  paintHeader();
  renderMembers();
  if (conv.stick) scrollToBottom(conv);
  if (refresh && conv.kind === 'room' && conv.joined && previous !== conv) {
    send({ type: 'names', room: conv.name });
  }
}

function paintHeader() {
  const conv = state.active;
  const input = $('message-input');
  if (!conv) {
    $('conv-name').textContent = '';
    $('conv-topic').textContent = '';
    return;
  }
  $('conv-name').textContent = conv.kind === 'room' ? conv.name : '@' + conv.name;
  if (conv.kind === 'room') {
    $('conv-topic').textContent = conv.topic || t('web-topic-none');
    input.setAttribute('placeholder', t('web-message-placeholder', { room: conv.name }));
  } else {
    $('conv-topic').textContent = t('web-private-with', { nick: conv.name });
    input.setAttribute('placeholder', t('web-private-placeholder', { nick: conv.name }));
  }
  input.setAttribute('aria-describedby', 'conv-name');
}

function paintBadge(conv) {
  conv.badge.hidden = conv.unread === 0;
  conv.badge.textContent = conv.unread > 99 ? '99+' : String(conv.unread);
  conv.badge.classList.toggle('mention', conv.mentioned);
  conv.badge.setAttribute('aria-label', t('web-unread', { count: conv.unread }));
  conv.tab.classList.toggle('has-unread', conv.unread > 0);
}

function updateTotals() {
  let total = 0;
  let mentioned = false;
  for (const conv of state.conversations.values()) {
    total += conv.unread;
    mentioned = mentioned || conv.mentioned;
  }
  const badge = $('total-unread');
  badge.hidden = total === 0;
  badge.textContent = total > 99 ? '99+' : String(total);
  badge.classList.toggle('mention', mentioned);
  document.title = (total ? `(${total}) ` : '') + t('web-title');
}

// ---------------------------------------------------------------------------------------
// Rows: one <li> per line in a conversation's log
//
// A row is described by a spec, painted into its element, and painted again when the
// language changes. Specs: {layout: 'said'|'acted', nick, text, time, ...} for chat lines,
// {layout: 'template', msgid, fields, time} for everything rendered from the catalog.

function paintRow(row, spec) {
  // Markers (where a replay starts, a reconnection) have no time of their own.
  row.replaceChildren(spec.marker ? el('span', 'when') : timeElement(spec.time));
  const body = el('span', 'body');
  if (spec.layout === 'said' || spec.layout === 'acted') {
    if (spec.layout === 'acted') body.append(el('span', 'star', '*'), ' ');
    body.append(nickElement(spec.nick), ' ');
    const text = el('span', 'text');
    appendWithMentions(text, spec.text, spec.highlight);
    body.append(text);
    if (spec.note) body.append(' ', el('span', 'note', t(spec.note)));
  } else {
    const { text, error } = splitMarker(t(spec.msgid, spec.fields));
    if (error) row.classList.add('error');
    body.append(el('span', 'text', text));
  }
  row.append(body);
}

function makeRow(spec) {
  const row = el('li', `msg ${spec.layout} ${spec.className || ''}`.trim());
  row.dataset.testid = 'message';
  if (spec.id !== undefined) row.dataset.id = String(spec.id);
  if (spec.layout === 'said' || spec.layout === 'acted') {
    if (state.nick && fold(spec.nick) === fold(state.nick)) row.classList.add('own');
    if (spec.highlight && mentions(spec.text)) row.classList.add('mentioned');
  }
  rowSpecs.set(row, spec);
  paintRow(row, spec);
  return row;
}

/** Add a line at the bottom of `conv`; `live` lines count as unread and may notify. */
function addRow(conv, spec, { live = false } = {}) {
  // Only the server's clock counts for lastTime (it is compared with the server's times).
  if (spec.id) conv.lastId = Math.max(conv.lastId || 0, spec.id);
  if (spec.time !== undefined && spec.time !== null) {
    conv.lastTime = Math.max(conv.lastTime, spec.time);
  } else {
    spec.time = now();
  }
  const stick = conv === state.active ? nearBottom(conv) : conv.stick;
  const row = makeRow(spec);
  conv.rows.append(row);
  trimRows(conv);
  if (live) countUnread(conv, row, spec);
  if (stick) scrollToBottom(conv);
  return row;
}

/** Keep at most MAX_ROWS rows; paging continues from the oldest line still shown. */
function trimRows(conv) {
  let dropped = false;
  while (conv.rows.childElementCount > MAX_ROWS) {
    conv.rows.firstElementChild.remove();
    dropped = true;
  }
  if (!dropped) return;
  const oldest = conv.rows.querySelector('[data-id]');
  if (oldest) conv.oldest = Number(oldest.dataset.id);
  else conv.paging.exhausted = true; // only live lines left: they carry no id to page from
  paintTop(conv);
}

function countUnread(conv, row, spec) {
  const chat = spec.layout === 'said' || spec.layout === 'acted';
  const own = row.classList.contains('own');
  const mentioned = row.classList.contains('mentioned') || (conv.kind === 'private' && !own);
  if (chat && !own && (conv !== state.active || document.hidden)) {
    if (conv !== state.active) {
      conv.unread += 1;
      conv.mentioned = conv.mentioned || mentioned;
      paintBadge(conv);
      updateTotals();
    }
    if (mentioned && document.hidden) notify(conv, spec);
  }
}

const nearBottom = (conv) =>
  conv.log.scrollHeight - conv.log.scrollTop - conv.log.clientHeight < 80;

function scrollToBottom(conv) {
  conv.stick = true;
  conv.log.scrollTop = conv.log.scrollHeight;
}

/** A template row in a room: at once if its tab exists, else once we have entered it. */
function roomRow(room, spec, options) {
  const conv = state.conversations.get(roomKey(room));
  if (conv) return addRow(conv, spec, options);
  const queue = state.roomQueue.get(roomKey(room)) || [];
  if (queue.length < 100) queue.push([spec, options]);
  state.roomQueue.set(roomKey(room), queue);
  return null;
}

/** A reply to the user: the conversation they typed in last (or the open one). */
function replyRow(spec) {
  const conv = state.replyTo && state.conversations.has(state.replyTo.key)
    ? state.replyTo : state.active;
  if (conv) addRow(conv, spec);
}

const template = (msgid, fields, extra = {}) => ({ layout: 'template', msgid, fields, ...extra });

function repaintAll() {
  makeTimeFormats();
  translateStatic();
  for (const conv of state.conversations.values()) {
    labelConversation(conv);
    paintTop(conv);
    for (const row of conv.rows.children) paintRow(row, rowSpecs.get(row));
  }
  paintHeader();
  renderMembers();
  renderRoomList();
  paintStatus();
  paintNotifyToggle();
  updateTotals();
  paintLogin();
}

// ---------------------------------------------------------------------------------------
// History: the lines shown on entering a room, and older ones when scrolling up

function onLogScroll(conv) {
  conv.stick = nearBottom(conv);
  if (conv.log.scrollTop <= 24) requestOlder(conv);
}

/** Ask for the PAGE_SIZE lines before the oldest one shown (once at a time). */
function requestOlder(conv) {
  const paging = conv.paging;
  if (conv.kind !== 'room' || paging.inflight || paging.exhausted || conv.oldest === null) return;
  if (conv.rows.childElementCount >= MAX_ROWS) return;
  if (!send({ type: 'history', room: conv.name, before: conv.oldest, count: PAGE_SIZE })) return;
  paging.inflight = true;
  paging.timer = setTimeout(() => { paging.inflight = false; paintTop(conv); }, PAGE_TIMEOUT_MS);
  paintTop(conv);
}

function pagingDone(conv, { exhausted = false } = {}) {
  clearTimeout(conv.paging.timer);
  conv.paging.inflight = false;
  conv.paging.exhausted = conv.paging.exhausted || exhausted;
  paintTop(conv);
}

/** The control on top of a log: "earlier lines", "loading...", or "the beginning". */
function paintTop(conv) {
  const paging = conv.paging;
  const canPage = conv.kind === 'room' && conv.oldest !== null && !paging.exhausted;
  conv.older.hidden = !canPage || paging.inflight;
  conv.topNote.textContent = conv.kind !== 'room' ? ''
    : paging.inflight ? t('web-history-loading')
      : paging.exhausted && conv.oldest !== null ? t('web-history-beginning', { room: conv.name })
        : '';
}

const historySpec = (line) => ({
  layout: line.kind === 'acted' ? 'acted' : 'said', nick: line.nick, text: line.text,
  time: line.time, id: line.id, className: 'earlier', highlight: true,
});

/** Older lines arrived: put them above what the log shows, keeping the view where it was. */
function prependHistory(conv, lines) {
  const log = conv.log;
  const before = log.scrollHeight;
  const fragment = document.createDocumentFragment();
  for (const line of lines) fragment.append(makeRow(historySpec(line)));
  conv.rows.prepend(fragment);
  for (const line of lines) conv.oldest = Math.min(conv.oldest ?? line.id, line.id);
  log.scrollTop += log.scrollHeight - before;
}

/** A room's entry replay: its recent lines, then `entered`. After a reconnect, the lines
 * this page already showed are skipped: by id (live lines carry their history id), or, on a
 * server keeping no history, by time (live times are rounded to the millisecond: hence the
 * millisecond of margin). */
function appendReplay(conv, block, reentry) {
  let lines = block.lines;
  if (reentry) {
    lines = lines.filter((line) => (conv.lastId ? line.id > conv.lastId
      : line.time > conv.lastTime + 0.001));
  }
  if (!lines.length) return;
  addRow(conv, template('history-start', { room: block.room, count: lines.length },
    { className: 'history-mark', marker: true }));
  for (const line of lines) addRow(conv, historySpec(line));
  addRow(conv, template('history-end', { room: block.room },
    { className: 'history-mark', marker: true }));
}

// ---------------------------------------------------------------------------------------
// Members of the open room (or the other side of a private conversation)

function renderMembers() {
  const list = $('members');
  const conv = state.active;
  const nicks = !conv ? [] : conv.kind === 'room' ? [...conv.members.values()] : [conv.name];
  nicks.sort((a, b) => a.localeCompare(b, i18n.lang, { sensitivity: 'base' }));
  const items = nicks.map((nick) => {
    const self = state.nick && fold(nick) === fold(state.nick);
    const button = el('button', 'member', el('span', 'dot ' + nickColour(nick)), nickElement(nick));
    button.type = 'button';
    button.dataset.testid = 'member-' + nick;
    if (self) {
      button.append(' ', el('span', 'note', t('web-you')));
      button.disabled = true;
    } else {
      button.setAttribute('title', t('web-open-private', { nick }));
      button.addEventListener('click', () => {
        activate(ensurePrivate(nick));
        closePanels();
        focusComposer();
      });
    }
    return el('li', null, button);
  });
  list.replaceChildren(...items);
  const count = conv && conv.kind === 'room' ? conv.members.size : nicks.length;
  $('members-heading').textContent = t(conv && conv.kind === 'private'
    ? 'web-private-heading' : 'web-members-heading', { count });
  $('member-count').textContent = conv ? String(count) : '';
}

function setMembers(conv, nicks) {
  conv.members = new Map(nicks.map((nick) => [fold(nick), nick]));
  if (conv === state.active) renderMembers();
}

function memberChanged(conv) {
  if (conv === state.active) renderMembers();
}

// ---------------------------------------------------------------------------------------
// The list of every room (answer to {"type":"rooms"})

function renderRoomList() {
  const plural = new Intl.PluralRules(i18n.lang);
  const items = state.roomList.map((room) => {
    const count = plural.select(room.count) === 'one'
      ? t('web-room-count-one', { count: room.count })
      : t('web-room-count-other', { count: room.count });
    const button = el('button', 'room-entry',
      el('span', 'room-name', room.name), el('span', 'room-count', count));
    if (room.topic) button.append(el('span', 'room-topic', room.topic));
    button.type = 'button';
    button.dataset.testid = 'room-' + room.name;
    button.addEventListener('click', () => {
      const open = state.conversations.get(roomKey(room.name));
      if (open && open.joined) activate(open);
      else joinRoom(room.name);
      closePanels();
    });
    return el('li', null, button);
  });
  if (!items.length) items.push(el('li', 'empty-note', t('web-room-list-empty')));
  $('rooms').replaceChildren(...items);
}

function toggleRoomList(open) {
  const panel = $('room-list-panel');
  const show = open ?? panel.hidden;
  panel.hidden = !show;
  $('room-list-toggle').setAttribute('aria-expanded', String(show));
  if (show) send({ type: 'rooms' });
}

function joinRoom(room) {
  let name = room.trim();
  if (!name) return;
  if (!name.startsWith('#')) name = '#' + name;
  const open = state.conversations.get(roomKey(name));
  if (open && open.joined) { activate(open); return; }
  state.focusOnEnter.add(roomKey(name));
  state.replyTo = state.active;
  send({ type: 'join', room: name });
}

// ---------------------------------------------------------------------------------------
// The connection: one WebSocket, reconnected with exponential backoff

const conn = {
  ws: null,
  attempt: 0, // failed attempts since the last welcome
  timer: null, // the scheduled reconnection
  retryAt: 0, // when it fires (ms)
  ticker: null, // repaints the countdown every second
  stopped: null, // why we must not reconnect (a template spec), or null
  status: { state: 'connecting', msgid: 'web-status-connecting', fields: {} },
  autoLogin: false, // send our nickname as soon as `hello` arrives
  inChat: false, // this connection was welcomed (before that, notices go to the login form)
  quitting: false, // the user typed /quit: do not reconnect
  pendingLogin: null, // a nickname typed before the connection was open
};

const wsUrl = () =>
  (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + '/ws';

function connect() {
  clearTimeout(conn.timer);
  clearInterval(conn.ticker);
  conn.timer = null;
  setStatus('connecting', 'web-status-connecting');
  conn.inChat = false;
  const ws = new WebSocket(wsUrl());
  conn.ws = ws;
  ws.addEventListener('message', (message) => {
    if (ws !== conn.ws) return;
    let events;
    try { events = JSON.parse(message.data); } catch { return; }
    for (const event of Array.isArray(events) ? events : [events]) {
      const handler = event && handlers[event.type];
      if (handler) handler(event);
    }
  });
  ws.addEventListener('close', () => { if (ws === conn.ws) onClosed(); });
}

function send(message) {
  const ws = conn.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN) return false;
  ws.send(JSON.stringify(message));
  return true;
}

function onClosed() {
  conn.ws = null;
  state.historyBlocks.clear();
  state.entryReplay.clear();
  for (const conv of state.conversations.values()) {
    conv.joined = false;
    pagingDone(conv);
  }
  conn.inChat = false;
  if (conn.quitting && !conn.stopped) stop('web-status-quit', { nick: state.nick });
  if (conn.stopped) {
    setStatus('stopped', conn.stopped.msgid, conn.stopped.fields);
    return;
  }
  // 1 s, 2 s, 4 s ... up to 30 s, each between 80 % and 120 % of that (jitter).
  const base = Math.min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** conn.attempt);
  const delay = base * (0.8 + 0.4 * Math.random());
  conn.attempt += 1;
  conn.retryAt = Date.now() + delay * 1000;
  conn.autoLogin = Boolean(state.nick);
  conn.timer = setTimeout(connect, delay * 1000);
  const tick = () => {
    const seconds = Math.max(1, Math.ceil((conn.retryAt - Date.now()) / 1000));
    setStatus('reconnecting', 'web-status-reconnecting', { seconds });
  };
  tick();
  conn.ticker = setInterval(tick, 1000);
}

/** Stop for good (ghosted, killed, banned, /quit): say why, and do not reconnect. */
function stop(msgid, fields) {
  conn.stopped = { msgid, fields };
  conn.autoLogin = false;
  setStatus('stopped', msgid, fields);
}

function setStatus(kind, msgid, fields = {}) {
  conn.status = { state: kind, msgid, fields };
  paintStatus();
}

function paintStatus() {
  const { state: kind, msgid, fields } = conn.status;
  $('status').dataset.state = kind;
  $('status-text').textContent = splitMarker(t(msgid, fields)).text;
  $('reconnect-now').hidden = !(kind === 'reconnecting' || kind === 'stopped');
}

function reconnectNow() {
  conn.stopped = null;
  conn.quitting = false;
  conn.attempt = 0;
  if (conn.ws) return;
  conn.autoLogin = Boolean(state.nick);
  connect();
}

// ---------------------------------------------------------------------------------------
// Events from the server, by type

const handlers = {
  hello(e) {
    if (e.lobby) state.lobby = e.lobby;
    if (conn.pendingLogin) {
      send(conn.pendingLogin);
      conn.pendingLogin = null;
    } else if (conn.autoLogin && state.nick) {
      const message = { type: 'nick', nick: state.nick };
      if (state.password) message.password = state.password;
      send(message);
    } else {
      setStatus('connecting', 'web-status-hello');
      showLogin();
    }
  },

  password(e) {
    conn.autoLogin = false;
    state.passwordFor = e.nick;
    showLogin({ password: true });
  },

  welcome(e) {
    const reconnecting = state.welcomed;
    state.welcomed = true;
    conn.inChat = true;
    conn.attempt = 0;
    login.password = false;
    login.message = null;
    conn.autoLogin = true;
    setOwnNick(e.nick);
    if (state.pendingPassword) state.password = state.pendingPassword;
    state.pendingPassword = null;
    $('app').dataset.view = 'chat';
    setStatus('connected', 'web-status-connected', { nick: e.nick });
    const lobby = ensureRoom(state.lobby);
    if (!state.active) activate(lobby);
    if (reconnecting) {
      // Enter again every room this page had open (the lobby comes by itself).
      for (const conv of state.conversations.values()) {
        if (conv.kind === 'room' && conv !== lobby) send({ type: 'join', room: conv.name });
      }
    }
    focusComposer();
  },

  entered(e) {
    const key = roomKey(e.room);
    const existed = state.conversations.has(key);
    const conv = ensureRoom(e.room);
    const reentry = conv.everJoined === true;
    if (reentry) {
      addRow(conv, template('web-reconnected', {}, { className: 'marker', marker: true }));
    }
    const block = state.entryReplay.get(key);
    state.entryReplay.delete(key);
    if (block) appendReplay(conv, block, reentry);
    if (conv.oldest === null) {
      const ids = block ? block.lines.map((line) => line.id) : [];
      conv.oldest = ids.length ? Math.min(...ids) : (e.cursor ?? null);
    }
    conv.joined = true;
    conv.everJoined = true;
    conv.topic = e.topic || '';
    setMembers(conv, e.members || []);
    for (const [spec, options] of state.roomQueue.get(key) || []) addRow(conv, spec, options);
    state.roomQueue.delete(key);
    paintTop(conv);
    if (!existed || state.focusOnEnter.has(key)) activate(conv, { refresh: false });
    else if (conv === state.active) paintHeader();
    state.focusOnEnter.delete(key);
  },

  exited(e) {
    const conv = state.conversations.get(roomKey(e.room));
    state.roomQueue.delete(roomKey(e.room));
    if (conv) removeConversation(conv);
  },

  connected(e) {
    const lobby = state.conversations.get(roomKey(state.lobby));
    if (!lobby) return;
    if (e.lobby !== false) {  // IRC users arrive in no room: they join the ones they choose
      lobby.members.set(fold(e.nick), e.nick);
      memberChanged(lobby);
    }
    addRow(lobby, template('joined', { nick: e.nick }, { time: e.time, className: 'system' }));
  },

  disconnected(e) {
    const spec = () => template(e.reason ? 'left-reason' : 'left',
      { nick: e.nick, reason: e.reason }, { time: e.time, className: 'system' });
    for (const conv of state.conversations.values()) {
      const member = conv.members.delete(fold(e.nick));
      const lobby = conv.key === roomKey(state.lobby);
      const partner = conv.kind === 'private' && fold(conv.name) === fold(e.nick);
      if (member || lobby || partner) addRow(conv, spec());
      if (member) memberChanged(conv);
    }
  },

  renamed(e) {
    if (state.nick && fold(e.old) === fold(state.nick)) setOwnNick(e.new);
    const spec = () => template('renamed', { old: e.old, new: e.new },
      { time: e.time, className: 'system' });
    const partner = state.conversations.get(privateKey(e.old));
    if (partner && !state.conversations.has(privateKey(e.new))) {
      state.conversations.delete(partner.key);
      partner.name = e.new;
      partner.key = privateKey(e.new);
      state.conversations.set(partner.key, partner);
      labelConversation(partner);
      if (partner === state.active) paintHeader();
    }
    for (const conv of state.conversations.values()) {
      const member = conv.members.delete(fold(e.old));
      if (member) {
        conv.members.set(fold(e.new), e.new);
        memberChanged(conv);
      }
      if (member || conv === partner || conv.key === roomKey(state.lobby)) addRow(conv, spec());
    }
  },

  joined(e) {
    const conv = state.conversations.get(roomKey(e.room));
    if (conv) {
      conv.members.set(fold(e.nick), e.nick);
      memberChanged(conv);
    }
    roomRow(e.room, template('room-joined', { nick: e.nick, room: e.room },
      { time: e.time, className: 'system' }));
  },

  left(e) {
    const conv = state.conversations.get(roomKey(e.room));
    if (conv) {
      conv.members.delete(fold(e.nick));
      memberChanged(conv);
    }
    roomRow(e.room, template('room-left', { nick: e.nick, room: e.room },
      { time: e.time, className: 'system' }));
  },

  said(e) {
    roomRow(e.room, {
      layout: 'said', nick: e.nick, text: e.text, time: e.time, id: e.id || undefined,
      highlight: true,
    }, { live: true });
  },

  acted(e) {
    roomRow(e.room, {
      layout: 'acted', nick: e.nick, text: e.text, time: e.time, id: e.id || undefined,
      highlight: true,
    }, { live: true });
  },

  topic(e) {
    const conv = state.conversations.get(roomKey(e.room));
    if (conv) {
      conv.topic = e.topic;
      if (conv === state.active) paintHeader();
    }
    roomRow(e.room, template('topic-set', { nick: e.nick, room: e.room, topic: e.topic },
      { time: e.time, className: 'system' }));
  },

  moderated(e) {
    roomRow(e.room, template(`mod-${e.action}`,
      { room: e.room, by: e.by, target: e.target, detail: e.detail },
      { time: e.time, className: 'system moderation' }));
  },

  wall(e) {
    const lobby = state.conversations.get(roomKey(state.lobby));
    const spec = () => template('wall', { nick: e.nick, text: e.text },
      { time: e.time, className: 'wall' });
    if (lobby) addRow(lobby, spec());
    if (state.active && state.active !== lobby) addRow(state.active, spec());
  },

  private(e) {
    addRow(ensurePrivate(e.from),
      { layout: 'said', nick: e.from, text: e.text, time: e.time, highlight: true },
      { live: true });
  },

  'private-sent'(e) {
    addRow(ensurePrivate(e.to), { layout: 'said', nick: state.nick, text: e.text, time: e.time });
  },

  'private-kept'(e) {
    const conv = ensurePrivate(e.to);
    addRow(conv, { layout: 'said', nick: state.nick, text: e.text, time: e.time });
    addRow(conv, template('private-kept', { nick: e.to }, { time: e.time, className: 'system' }));
  },

  'private-delivered'(e) {
    addRow(ensurePrivate(e.from), {
      layout: 'said', nick: e.from, text: e.text, time: e.time, highlight: true,
      className: 'kept', note: 'web-kept-note',
    }, { live: true });
  },

  'history-start'(e) {
    state.historyBlocks.set(roomKey(e.room), { room: e.room, count: e.count, lines: [] });
  },

  history(e) {
    const key = roomKey(e.room);
    if (!state.historyBlocks.has(key)) {
      state.historyBlocks.set(key, { room: e.room, count: 0, lines: [] });
    }
    state.historyBlocks.get(key).lines.push(e);
  },

  'history-end'(e) {
    const key = roomKey(e.room);
    const block = state.historyBlocks.get(key) || { room: e.room, count: 0, lines: [] };
    state.historyBlocks.delete(key);
    block.lines.sort((a, b) => a.id - b.id);
    const conv = state.conversations.get(key);
    if (conv && conv.paging.inflight) {
      // The page we asked for by scrolling up.
      prependHistory(conv, block.lines);
      pagingDone(conv, { exhausted: block.lines.length === 0 });
    } else if (!conv || !conv.joined) {
      // Entering a room: its recent lines come just before `entered`.
      state.entryReplay.set(key, block);
    } else {
      // The user typed /history: shown where they are, as on telnet.
      addRow(conv, template('history-start', { room: e.room, count: block.lines.length },
        { className: 'history-mark', marker: true }));
      for (const line of block.lines) addRow(conv, historySpec(line));
      addRow(conv, template('history-end', { room: e.room },
        { className: 'history-mark', marker: true }));
    }
  },

  rooms(e) {
    state.roomList = (e.rooms || []).slice()
      .sort((a, b) => b.count - a.count || a.name.localeCompare(b.name));
    renderRoomList();
  },

  names(e) {
    const conv = state.conversations.get(roomKey(e.room));
    if (conv) setMembers(conv, e.nicks || []);
  },

  identified(e) {
    replyRow(template('identified', { nick: e.nick }, { time: e.time, className: 'system' }));
  },

  ghosted(e) {
    replyRow(template('ghosted', { nick: e.nick }, { time: e.time }));
    stop('ghosted', { nick: e.nick });
  },

  killed(e) {
    const msgid = e.reason ? 'killed-reason' : 'killed';
    replyRow(template(msgid, { by: e.by, reason: e.reason }, { time: e.time }));
    stop(msgid, { by: e.by, reason: e.reason });
  },

  banned(e) {
    const msgid = e.reason ? 'banned-reason' : 'banned';
    replyRow(template(msgid, { by: e.by, reason: e.reason }, { time: e.time }));
    stop(msgid, { by: e.by, reason: e.reason });
  },

  invited(e) {
    replyRow(template('invited', { room: e.room, by: e.by },
      { time: e.time, className: 'system' }));
  },

  'room-owned'(e) {
    roomRow(e.room, template('room-owned', { room: e.room },
      { time: e.time, className: 'system' }));
  },

  shutdown(e) {
    replyRow(template('shutting-down', {}, { time: e.time, className: 'system' }));
  },

  notice(e) {
    const fields = e.fields || {};
    if (!conn.inChat) {
      showLogin({ message: { msgid: e.msgid, fields } });
      return;
    }
    const paged = fields.room && state.conversations.get(roomKey(fields.room));
    if (paged && paged.paging.inflight) {
      // Answers to a page of history we asked for: the beginning, or no history to read.
      if (e.msgid === 'history-none') { pagingDone(paged, { exhausted: true }); return; }
      if (e.msgid === 'err-history-off') { pagingDone(paged, { exhausted: true }); return; }
      if (e.msgid === 'err-history-unavailable') pagingDone(paged);
    }
    if (e.msgid === 'goodbye') stop('web-status-quit', fields);
    replyRow(template(e.msgid, fields, { time: e.time, className: 'notice' }));
  },
};

// ---------------------------------------------------------------------------------------
// The login form

const login = { message: null, password: false };

function showLogin({ password = false, message = null } = {}) {
  if (password) login.password = true;
  login.message = message;
  $('app').dataset.view = 'login';
  paintLogin();
  const nickInput = $('nick-input');
  if (state.nick && !nickInput.value) nickInput.value = state.nick;
  if (state.passwordFor && !nickInput.value) nickInput.value = state.passwordFor;
  (login.password ? $('password-input') : nickInput).focus();
}

function paintLogin() {
  $('password-field').hidden = !login.password;
  $('password-hint').textContent = login.password
    ? t('web-password-needed', { nick: state.passwordFor || $('nick-input').value }) : '';
  const message = login.message ? splitMarker(t(login.message.msgid, login.message.fields)) : null;
  $('login-error').textContent = message ? message.text : '';
  $('login-error').classList.toggle('error', Boolean(message && message.error));
}

function submitLogin(event) {
  event.preventDefault();
  const nick = $('nick-input').value.trim();
  if (!nick) { $('nick-input').focus(); return; }
  const message = { type: 'nick', nick };
  const password = login.password ? $('password-input').value : '';
  if (password) message.password = password;
  state.pendingPassword = password || null;
  if (state.passwordFor && fold(state.passwordFor) !== fold(nick)) login.password = false;
  if (!send(message)) {
    conn.pendingLogin = message; // sent when the server says hello
    login.message = { msgid: 'web-status-connecting', fields: {} };
    paintLogin();
    return;
  }
  $('password-input').value = '';
  login.message = null;
  paintLogin();
}

// ---------------------------------------------------------------------------------------
// Typing: the composer and the join control

function submitMessage(event) {
  event.preventDefault();
  const input = $('message-input');
  const text = input.value;
  const conv = state.active;
  if (!text.trim() || !conv) return;
  let message;
  if (conv.kind === 'room') {
    // Everything typed in a room's tab, commands included, goes as a line for that room.
    message = { type: 'line', room: conv.name, text };
    const join = /^\/join\s+(#?\S+)/i.exec(text);
    if (join) state.focusOnEnter.add(roomKey(join[1].startsWith('#') ? join[1] : '#' + join[1]));
  } else if (text.startsWith('//')) {
    message = { type: 'msg', to: conv.name, text: text.slice(1) }; // "//x" says "/x"
  } else if (text.startsWith('/')) {
    message = { type: 'line', text }; // a command, from a private tab: no room
  } else {
    message = { type: 'msg', to: conv.name, text };
  }
  if (/^\/quit\b/i.test(text)) conn.quitting = true;
  state.replyTo = conv;
  if (!send(message)) {
    addRow(conv, template('web-not-connected', {}, { className: 'notice error' }));
    return;
  }
  input.value = '';
  scrollToBottom(conv);
}

function submitJoin(event) {
  event.preventDefault();
  const input = $('join-input');
  if (!input.value.trim()) { input.focus(); return; }
  joinRoom(input.value);
  input.value = '';
  closePanels();
}

function focusComposer() {
  if (!NARROW.matches || document.activeElement === document.body) {
    $('message-input').focus({ preventScroll: true });
  }
}

// ---------------------------------------------------------------------------------------
// Panels (the sidebar and member list on narrow screens) and the keyboard

/** Let a panel slide while it opens or closes (not when the window is resized). */
function animate(panel) {
  panel.classList.add('animating');
  clearTimeout(panel.animationTimer);
  panel.animationTimer = setTimeout(() => panel.classList.remove('animating'), 300);
}

function openPanel(name) {
  const panel = name === 'sidebar' ? $('sidebar') : $('members-panel');
  const toggle = name === 'sidebar' ? $('sidebar-toggle') : $('members-toggle');
  closePanels();
  animate(panel);
  panel.classList.add('open');
  toggle.setAttribute('aria-expanded', 'true');
  $('scrim').hidden = false;
  const target = panel.querySelector('[role="tab"][aria-selected="true"], button, input');
  if (target) target.focus();
}

function closePanels() {
  let wasOpen = null;
  for (const [panel, toggle] of [['sidebar', 'sidebar-toggle'],
    ['members-panel', 'members-toggle']]) {
    if ($(panel).classList.contains('open')) {
      wasOpen = $(toggle);
      animate($(panel));
    }
    $(panel).classList.remove('open');
    $(toggle).setAttribute('aria-expanded', 'false');
  }
  $('scrim').hidden = true;
  return wasOpen;
}

function panelsCollapsible(name) {
  return name === 'sidebar' ? NARROW.matches : COLLAPSED_MEMBERS.matches;
}

function togglePanel(name) {
  const panel = name === 'sidebar' ? $('sidebar') : $('members-panel');
  if (panel.classList.contains('open')) closePanels();
  else if (panelsCollapsible(name)) openPanel(name);
  else document.body.classList.toggle('members-hidden'); // wide screens: show/hide column
}

/** Arrow keys move between tabs of a tablist (and open the tab), Home/End to the ends. */
function onTabKey(event) {
  const tabs = [...event.currentTarget.querySelectorAll('[role="tab"]')];
  const index = tabs.indexOf(document.activeElement);
  if (index < 0) return;
  const moves = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 };
  let next = null;
  if (event.key in moves) next = tabs[(index + moves[event.key] + tabs.length) % tabs.length];
  else if (event.key === 'Home') next = tabs[0];
  else if (event.key === 'End') next = tabs[tabs.length - 1];
  if (!next) return;
  event.preventDefault();
  next.click();
  next.focus();
}

function onKeyDown(event) {
  if (event.key !== 'Escape') return;
  const toggle = closePanels();
  if (toggle) { toggle.focus(); return; }
  if (!$('room-list-panel').hidden) {
    toggleRoomList(false);
    $('room-list-toggle').focus();
  }
}

// ---------------------------------------------------------------------------------------
// Notifications for mentions and private messages, while the page is hidden

const notifications = () => 'Notification' in window;
const notifyOn = () =>
  notifications() && Notification.permission === 'granted' && storageGet(NOTIFY_KEY) === '1';

function paintNotifyToggle() {
  const button = $('notify-toggle');
  button.hidden = !notifications();
  if (!notifications()) return;
  const on = notifyOn();
  const msgid = Notification.permission === 'denied' ? 'web-notify-denied'
    : on ? 'web-notify-disable' : 'web-notify-enable';
  button.setAttribute('aria-pressed', String(on));
  button.setAttribute('aria-label', t(msgid));
  button.setAttribute('title', t(msgid));
}

async function toggleNotifications() {
  if (!notifications()) return;
  if (notifyOn()) {
    storageSet(NOTIFY_KEY, '0');
  } else {
    // Asked only here, when the user presses the button; never on load.
    const permission = Notification.permission === 'default'
      ? await Notification.requestPermission() : Notification.permission;
    storageSet(NOTIFY_KEY, permission === 'granted' ? '1' : '0');
  }
  paintNotifyToggle();
}

function notify(conv, spec) {
  if (!notifyOn()) return;
  const title = conv.kind === 'private'
    ? t('web-notify-private', { nick: spec.nick })
    : t('web-notify-mention', { nick: spec.nick, room: conv.name });
  try {
    const shown = new Notification(title,
      { body: spec.text, icon: '/static/icon.svg', tag: conv.key });
    shown.addEventListener('click', () => { window.focus(); activate(conv); shown.close(); });
  } catch { /* some browsers only allow notifications from a service worker */ }
}

// ---------------------------------------------------------------------------------------
// Start

async function switchLanguage() {
  const lang = i18n.lang === 'pt' ? 'en' : 'pt';
  try {
    await loadCatalog(lang);
  } catch {
    return; // keep the current language
  }
  storageSet(LANG_KEY, lang);
  repaintAll();
}

function wire() {
  $('login-form').addEventListener('submit', submitLogin);
  $('composer').addEventListener('submit', submitMessage);
  $('join-form').addEventListener('submit', submitJoin);
  $('lang-switch').addEventListener('click', switchLanguage);
  $('notify-toggle').addEventListener('click', toggleNotifications);
  $('reconnect-now').addEventListener('click', reconnectNow);
  $('sidebar-toggle').addEventListener('click', () => togglePanel('sidebar'));
  $('members-toggle').addEventListener('click', () => togglePanel('members'));
  $('scrim').addEventListener('click', closePanels);
  $('room-list-toggle').addEventListener('click', () => toggleRoomList());
  $('room-list-refresh').addEventListener('click', () => send({ type: 'rooms' }));
  $('room-tabs').addEventListener('keydown', onTabKey);
  $('private-tabs').addEventListener('keydown', onTabKey);
  for (const button of document.querySelectorAll('[data-close-panel]')) {
    button.addEventListener('click', () => {
      const toggle = closePanels();
      if (toggle) toggle.focus();
    });
  }
  document.addEventListener('keydown', onKeyDown);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && state.active) {
      state.active.unread = 0;
      paintBadge(state.active);
      updateTotals();
    }
  });
  NARROW.addEventListener('change', closePanels);
  COLLAPSED_MEMBERS.addEventListener('change', closePanels);
}

async function start() {
  wire();
  for (let delay = 1000; ; delay = Math.min(delay * 2, 30000)) {
    try {
      await loadCatalog(initialLanguage());
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
  repaintAll();
  document.body.classList.remove('is-loading');
  connect();
}

start();
