// What both Node client tests share: the protos loaded as any client
// author would load them, and a real gridcased started as a child process.
//
// Environment (set by ctest): GRIDCASED (the binary), GRIDCASE_PROTO_DIR
// (proto/), GRIDCASE_WORKFLOWS (deploy/workflows).
'use strict';

const { spawn } = require('node:child_process');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const definition = protoLoader.loadSync('gridcase/v1/service.proto', {
  includeDirs: [process.env.GRIDCASE_PROTO_DIR],
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const v1 = grpc.loadPackageDefinition(definition).gridcase.v1;

// Starts gridcased on a free loopback port with the shipped workflows, its
// data in `dataDir`, and `flags`; resolves with { server, address } once
// it says where it listens, rejects if it exits first.
function startGridcased(dataDir, flags) {
  const server = spawn(process.env.GRIDCASED, [
    '--data-dir', dataDir, '--listen', '127.0.0.1:0',
    '--workflows', process.env.GRIDCASE_WORKFLOWS, ...flags,
  ]);
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk;
      const m = /listening on (127\.0\.0\.1:\d+)/.exec(output);
      if (m) resolve({ server, address: m[1] });
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', onData);
    server.on('exit', (code) => reject(new Error(`gridcased exited (${code}): ${output}`)));
  });
}

// Stops `server` (SIGTERM: it drains and exits) and waits for it.
async function stopGridcased(server) {
  const exited = new Promise((resolve) => server.on('exit', resolve));
  server.kill('SIGTERM');
  await exited;
}

module.exports = { definition, v1, startGridcased, stopGridcased };
