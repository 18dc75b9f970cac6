'use strict';
// One Socket.IO node of the two-node comparison (see README.md beside this file): a benchmark tool,
// not part of Handoff.
//
//   JWT_SECRET=... node server.js --node a --port 18180 --redis-url redis://127.0.0.1:18182
//
// WebSocket transport only (no HTTP long-polling), no compression, the official Redis adapter with a
// pub and a sub client. A device connects with an HS256 token in the handshake's `auth.token`
// (claims sub = user, did = device, exp), checked here with node's crypto, as Handoff checks one at
// the upgrade; the socket then joins its user's room. A `write` event carries a binary payload and an
// ack callback: the node emits `delta` (version, origin device, payload) to the user's room except
// the sender, on this node and through Redis on the other, then acks with the version. The version
// is a per-user counter kept in this process only (each node counts on its own; nothing is stored):
// it stands for the small header Handoff's delta carries, not for Handoff's durable versions.
//
// Prints one JSON line ({"event":"listening",...}) once it listens, and one ({"event":"stopped",...})
// when it stops on SIGTERM or SIGINT.

const http = require('node:http');
const crypto = require('node:crypto');
const path = require('node:path');
const { Server } = require('socket.io');
const { createAdapter } = require('@socket.io/redis-adapter');
const { createClient } = require('redis');

function args(argv) {
  const o = { node: 'a', host: '127.0.0.1', port: 18180, redisUrl: 'redis://127.0.0.1:18182' };
  for (let i = 2; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (v === undefined) throw new Error(`${k} needs a value`);
    if (k === '--node') o.node = v;
    else if (k === '--host') o.host = v;
    else if (k === '--port') o.port = Number(v);
    else if (k === '--redis-url') o.redisUrl = v;
    else throw new Error(`unknown option ${k} (--node --host --port --redis-url)`);
  }
  return o;
}

// Checks an HS256 token; returns {user, device} or throws an Error saying what is wrong.
function verify(token, key) {
  if (typeof token !== 'string') throw new Error('no token in auth.token');
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('not a JWT');
  const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString());
  if (header.alg !== 'HS256') throw new Error(`alg ${header.alg}, expected HS256`);
  const signature = Buffer.from(parts[2], 'base64url');
  const expected = crypto.createHmac('sha256', key).update(`${parts[0]}.${parts[1]}`).digest();
  if (signature.length !== expected.length || !crypto.timingSafeEqual(signature, expected)) {
    throw new Error('bad signature');
  }
  const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString());
  if (typeof claims.exp !== 'number' || claims.exp * 1000 <= Date.now()) throw new Error('expired');
  if (typeof claims.sub !== 'string' || typeof claims.did !== 'string') {
    throw new Error('sub and did must be strings');
  }
  return { user: claims.sub, device: claims.did };
}

// Whether ws (Socket.IO's WebSocket server) runs with the native bufferutil add-on that Socket.IO's
// performance advice recommends, or with its JavaScript fallback.
function bufferutil() {
  try {
    require('node-gyp-build')(path.dirname(require.resolve('bufferutil')));
    return 'native';
  } catch (e) {
    return 'absent';
  }
}

async function main() {
  const o = args(process.argv);
  const secret = process.env.JWT_SECRET;
  if (!secret || Buffer.byteLength(secret) < 32) {
    throw new Error('JWT_SECRET must be set, at least 32 bytes (as for the Handoff server)');
  }
  const key = Buffer.from(secret);

  // Redis lost for more than about 2 s is the end of a benchmark run: give up instead of retrying
  // without end (node-redis reconnects forever by default).
  const reconnectStrategy = (retries) =>
    retries >= 20 ? new Error(`no Redis at ${o.redisUrl} after ${retries} tries`) : 100;
  const pub = createClient({ url: o.redisUrl, socket: { reconnectStrategy } });
  const sub = pub.duplicate();
  for (const c of [pub, sub]) c.on('error', (e) => console.error(`redis: ${e.message}`));
  await Promise.all([pub.connect(), sub.connect()]);

  const httpServer = http.createServer((req, res) => {
    res.writeHead(404).end();
  });
  const io = new Server(httpServer, {
    transports: ['websocket'],
    perMessageDeflate: false,
    httpCompression: false,
    serveClient: false,
    adapter: createAdapter(pub, sub),
  });

  // room -> the last version given on this node; dropped when the user's last socket here leaves.
  const versions = new Map();
  let connections = 0;
  let writes = 0;
  let rejected = 0;

  io.use((socket, next) => {
    try {
      socket.data = verify(socket.handshake.auth && socket.handshake.auth.token, key);
      next();
    } catch (e) {
      rejected++;
      next(new Error(`unauthorized: ${e.message}`));
    }
  });

  io.on('connection', (socket) => {
    const room = `u:${socket.data.user}`;
    const device = socket.data.device;
    connections++;
    socket.join(room);
    socket.on('write', (payload, ack) => {
      if (!Buffer.isBuffer(payload) || typeof ack !== 'function') {
        socket.disconnect(true); // not the driver's protocol
        return;
      }
      writes++;
      const version = (versions.get(room) || 0) + 1;
      versions.set(room, version);
      // To every other socket in the room: local ones directly, the other node's through Redis.
      socket.to(room).emit('delta', version, device, payload);
      ack(version);
    });
    socket.on('disconnect', () => {
      connections--;
      if (!io.of('/').adapter.rooms.has(room)) versions.delete(room);
    });
  });

  httpServer.listen({ host: o.host, port: o.port, backlog: 4096 }, () => {
    console.log(
      JSON.stringify({
        event: 'listening',
        node: o.node,
        pid: process.pid,
        port: o.port,
        node_version: process.version,
        socket_io: require('socket.io/package.json').version,
        redis_adapter: require('@socket.io/redis-adapter/package.json').version,
        redis_client: require('redis/package.json').version,
        bufferutil: bufferutil(),
      }),
    );
  });

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(1), 5000).unref();
    io.close(() => {
      console.log(JSON.stringify({ event: 'stopped', node: o.node, writes, rejected, connections }));
      Promise.allSettled([pub.quit(), sub.quit()]).then(() => process.exit(0));
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  console.error(`server: ${e.message}`);
  process.exit(1);
});
