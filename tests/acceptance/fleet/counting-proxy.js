// The fleet test's S3 front (tests/acceptance/Fleet.Tests.ps1). Two modes, because a process lives in one network
// namespace and s3rver listens on the root namespace's loopback:
//   node counting-proxy.js relay SOCKET HOST:PORT
//       (root namespace) accepts on the Unix socket SOCKET and pipes each connection to HOST:PORT (s3rver).
//   node counting-proxy.js count ADDRESS:PORT SOCKET LOG
//       (inside the test's namespace) an HTTP server on ADDRESS:PORT that forwards every request unchanged (Host
//       header included, so signatures still match) through SOCKET, and appends one line per request to LOG:
//       "<client address> <method> <path>". The test counts GETs per blob per client address from LOG.
// Both print "ready" on stdout once listening. Unix sockets named by a path are not tied to a network namespace.
'use strict';
const fs = require('fs');
const http = require('http');
const net = require('net');

const [mode, ...args] = process.argv.slice(2);
if (mode === 'relay') {
  const [socket, upstream] = args;
  const [host, port] = [upstream.slice(0, upstream.lastIndexOf(':')), Number(upstream.slice(upstream.lastIndexOf(':') + 1))];
  try { fs.unlinkSync(socket); } catch { /* not there */ }
  net.createServer(client => {
    const server = net.connect(port, host);
    client.pipe(server).pipe(client);
    const close = () => { client.destroy(); server.destroy(); };
    client.on('error', close);
    server.on('error', close);
  }).listen(socket, () => console.log('ready'));
} else if (mode === 'count') {
  const [listen, socket, log] = args;
  const address = listen.slice(0, listen.lastIndexOf(':'));
  const port = Number(listen.slice(listen.lastIndexOf(':') + 1));
  http.createServer((req, res) => {
    fs.appendFileSync(log, `${req.socket.remoteAddress} ${req.method} ${req.url}\n`);
    const forward = http.request({ socketPath: socket, method: req.method, path: req.url, headers: req.headers }, upstream => {
      res.writeHead(upstream.statusCode, upstream.headers);
      upstream.pipe(res);
    });
    forward.on('error', err => { res.writeHead(502); res.end(String(err)); });
    req.pipe(forward);
  }).listen(port, address, () => console.log('ready'));
} else {
  console.error('usage: counting-proxy.js relay SOCKET HOST:PORT | count ADDRESS:PORT SOCKET LOG');
  process.exit(2);
}
