// The chapter's first example, with the alerts written into a list.
const log = document.getElementById('log');
const url = new URL('/demo/hello', location.href);
url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';

function show(text) {
  const li = document.createElement('li');
  li.textContent = text;
  log.append(li);
}

function run() {
  log.replaceChildren();
  const socket = new WebSocket(url);

  socket.onopen = () => {
    show('[open] Connection established');
    show('Sending to server');
    socket.send('My name is John');
  };

  socket.onmessage = (event) => {
    show(`[message] Data received from server: ${event.data}`);
  };

  socket.onclose = (event) => {
    if (event.wasClean) {
      show(`[close] Connection closed cleanly, code=${event.code} reason=${event.reason}`);
    } else {
      // e.g. server process killed or network down; event.code is usually 1006 then
      show(`[close] Connection died, code=${event.code}`);
    }
  };

  socket.onerror = () => {
    show('[error]');
  };
}

document.getElementById('again').addEventListener('click', run);
run();
