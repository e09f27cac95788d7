// Starts dynalite (DynamoDB in memory) for trailwarden's integration tests, on 127.0.0.1 only.
//
//   node dynalite_launcher.js [--create-table-ms MS] [--exit-on-stdin-close]
//
// Runs on any Node.js dynalite 4 supports (Debian's, or the Node 22 that scripts/setup-peers.sh
// installs next to this file). Listens on a port the kernel picks (dynalite's own CLI treats
// --port 0 as "use 4567"). When it accepts connections it prints exactly one line to standard
// output, {"port": N}, and nothing else is ever written there. --exit-on-stdin-close shuts it
// down when standard input reaches end of file (so that it dies with the test that started it,
// even one killed by SIGKILL). SIGTERM or SIGINT closes the server and exits with status 0.
"use strict";

const path = require("node:path");
const dynalite = require(path.join(__dirname, "node_modules", "dynalite"));

const LOOPBACK = "127.0.0.1";
const args = process.argv.slice(2);
let createTableMs = 500;
let exitOnStdinClose = false;
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--create-table-ms" && i + 1 < args.length) createTableMs = Number(args[++i]);
  else if (args[i] === "--exit-on-stdin-close") exitOnStdinClose = true;
  else {
    process.stderr.write(`dynalite_launcher: unknown argument ${args[i]}\n`);
    process.exit(2);
  }
}

const server = dynalite({ createTableMs, deleteTableMs: createTableMs, updateTableMs: createTableMs });
let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 5000).unref();  // open keep-alive sockets must not hold us
}
server.on("error", (err) => {
  process.stderr.write(`dynalite_launcher: ${err.stack || err}\n`);
  process.exit(1);
});
server.listen(0, LOOPBACK, () => {
  const address = server.address();
  if (address.address !== LOOPBACK) {
    process.stderr.write(`dynalite_launcher: bound to ${address.address}, not ${LOOPBACK}\n`);
    process.exit(1);
  }
  process.stdout.write(JSON.stringify({ port: address.port }) + "\n");
});
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
if (exitOnStdinClose) {
  process.stdin.on("end", stop);
  process.stdin.on("error", stop);
  process.stdin.resume();
}
