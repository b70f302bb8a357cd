// Baseline 1: bare node:http answering a small JSON POST (a heartbeat-sized body) with a
// heartbeat-sized JSON answer. The ceiling for any HTTP server in Node on this machine.
import http from 'node:http';

const answer = (id) => JSON.stringify({ acknowledged: true, leader_id: id, should_sync: false, leader_term: 1 });

const server = http.createServer((req, res) => {
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    const id = req.url.slice(req.url.lastIndexOf('/') + 1);
    const out = answer(body.status ? id : null);
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(out) });
    res.end(out);
  });
});
server.keepAliveTimeout = 72_000;
server.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
