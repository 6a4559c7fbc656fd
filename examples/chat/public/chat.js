// The chat page: the chapter's client, plus what it leaves to the reader —
// the connection state, and reconnecting when the connection is lost
// (WebSocket has no reconnection of its own).
const form = document.forms.publish;
const messages = document.getElementById('messages');
const status = document.getElementById('status');
const sendButton = form.querySelector('input[type="submit"]');

const url = new URL('/ws', location.href);
url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';

// Exponential backoff with jitter: try n waits between half and all of
// min(CAP, BASE * 2^n), so tabs that lost the same server do not come back
// at the same moment. A connection that opens starts the count again.
const BASE_DELAY = 500;
const MAX_DELAY = 10_000;

let socket = null;
let attempt = 0;
let retryTimer = null;
let countdown = null;

function setState(state, text) {
  status.dataset.state = state;
  status.textContent = text;
  sendButton.disabled = state !== 'open';
}

function connect() {
  clearTimeout(retryTimer);
  clearInterval(countdown);
  retryTimer = countdown = null;
  setState('connecting', attempt === 0 ? 'Connecting…' : `Reconnecting… (attempt ${attempt + 1})`);

  const ws = new WebSocket(url);
  socket = ws;

  ws.onopen = () => {
    attempt = 0;
    setState('open', 'Connected');
  };

  // message received - show the message in div#messages
  ws.onmessage = (event) => {
    const messageElem = document.createElement('div');
    messageElem.textContent = event.data; // text, never HTML
    messages.append(messageElem);
    messageElem.scrollIntoView({ block: 'nearest' });
  };

  ws.onclose = (event) => {
    if (socket !== ws) return;
    socket = null;
    scheduleReconnect(event);
  };
  // An error is always followed by close, where the reconnect happens.
}

function scheduleReconnect(event) {
  const ceiling = Math.min(MAX_DELAY, BASE_DELAY * 2 ** attempt);
  const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  attempt++;
  const why = event.code === 1006 || event.code === 1005 ? 'connection lost'
    : `closed with ${event.code}${event.reason ? ` (${event.reason})` : ''}`;
  const due = Date.now() + delay;
  const show = () => {
    const s = Math.max(0, Math.ceil((due - Date.now()) / 1000));
    setState('closed', `Disconnected: ${why}. Reconnecting in ${s} s…`);
  };
  show();
  countdown = setInterval(show, 1000);
  retryTimer = setTimeout(connect, delay);
}

// send message from the form
form.onsubmit = (event) => {
  event.preventDefault();
  const outgoingMessage = form.message.value;
  if (outgoingMessage === '' || socket === null || socket.readyState !== WebSocket.OPEN) return;
  socket.send(outgoingMessage);
  form.message.value = '';
  form.message.focus();
};

// Back online or back to the tab while waiting: try now instead of later.
const tryNow = () => { if (socket === null && retryTimer !== null) connect(); };
window.addEventListener('online', tryNow);
document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') tryNow(); });

connect();
