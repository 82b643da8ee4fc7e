// An independent client: Node's @grpc/grpc-js and @grpc/proto-loader,
// loading the .proto files as any client author would, against a real
// gridcased started here as a child process. It checks what the README
// promises a client: good events accepted, bytes that do not parse refused
// with INVALID_ARGUMENT naming the request type, and a stream with a message
// that does not parse answering what came before and never ending OK.
//
// Environment: as gridcased.js says.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const { definition, v1, startGridcased, stopGridcased } = require('./gridcased.js');

const submitStream = definition['gridcase.v1.EventService'].SubmitStream;

// Field 1, length-delimited, says 5 bytes and brings 2: no message parses.
const GARBAGE = Buffer.from([0x0a, 0x05, 0x61, 0x62]);
const identity = (b) => b;

let server;
let address;
let dataDir;

test.before(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gridcase-node-'));
  ({ server, address } = await startGridcased(path.join(dataDir, 'data'), ['--development']));
});

test.after(async () => {
  await stopGridcased(server);
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function event(eventId, caseId, celsius) {
  return {
    eventId,
    caseId,
    occurredAt: { seconds: Math.floor(Date.now() / 1000), nanos: 0 },
    actor: { id: 'worker-li', kind: 'ACTOR_KIND_PERSON' },
    gridId: 'jiangan-07-03',
    feverReading: { celsius },
  };
}

// Sends `bytes` as they are to a unary method; resolves with the error.
function rawUnary(method, bytes) {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(method, identity, identity, bytes, (err) => {
      client.close();
      resolve(err);
    });
  });
}

// Writes `messages` (bytes) on a SubmitStream, half-closes, and resolves
// with the answers received and how the stream ended.
function rawStream(messages) {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const call = client.makeBidiStreamRequest('/gridcase.v1.EventService/SubmitStream', identity,
                                            submitStream.responseDeserialize);
  const answers = [];
  call.on('data', (response) => answers.push(...response.answers));
  const ended = new Promise((resolve) => {
    call.on('status', (status) => {
      client.close();
      resolve({ answers, status });
    });
    call.on('error', () => {});  // reported by 'status' too
  });
  for (const m of messages) call.write(m);
  call.end();
  return ended;
}

function streamMessage(requestId, ev) {
  return submitStream.requestSerialize({
    submissions: [{ requestId: String(requestId), submit: { event: ev } }],
  });
}

test('a good event is accepted and read back', async () => {
  const events = new v1.EventService(address, grpc.credentials.createInsecure());
  const accepted = await new Promise((resolve, reject) => {
    events.Submit({ event: event('node-1', 'node-case', 36.6) },
                  (err, r) => (err ? reject(err) : resolve(r)));
  });
  assert.equal(accepted.eventId, 'node-1');
  assert.ok(Number(accepted.position) > 0);
  const cases = new v1.CaseService(address, grpc.credentials.createInsecure());
  const state = await new Promise((resolve, reject) => {
    cases.GetCase({ caseId: 'node-case' }, (err, r) => (err ? reject(err) : resolve(r)));
  });
  assert.equal(state.caseId, 'node-case');
  events.close();
  cases.close();
});

test('bytes that do not parse are INVALID_ARGUMENT naming the request type', async () => {
  for (const [method, type] of [
    ['/gridcase.v1.EventService/Submit', 'gridcase.v1.SubmitRequest'],
    ['/gridcase.v1.CaseService/GetCase', 'gridcase.v1.GetCaseRequest'],
    ['/gridcase.v1.AdminService/ListWorkflows', 'gridcase.v1.ListWorkflowsRequest'],
  ]) {
    const err = await rawUnary(method, GARBAGE);
    assert.ok(err, method);
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT, `${method}: ${err.details}`);
    assert.match(err.details, new RegExp(type.replace(/\./g, '\\.')), method);
  }
});

test('a stream with a message that does not parse answers what came before, then fails',
     async () => {
       const { answers, status } = await rawStream([
         streamMessage(1, event('node-s1', 'node-stream', 36.6)),
         GARBAGE,
         streamMessage(3, event('node-s3', 'node-stream', 36.7)),
       ]);
       assert.equal(status.code, grpc.status.INVALID_ARGUMENT, status.details);
       assert.match(status.details, /message 2 does not parse as gridcase\.v1\.StreamSubmitRequest/);
       assert.match(status.details, /1 submission answered before it \(the last request_id 1\)/);
       assert.deepEqual(answers.map((a) => a.requestId), ['1']);
       assert.equal(answers[0].result, 'accepted');
     });

test('a stream of good messages ends OK with every answer', async () => {
  const messages = [];
  for (let i = 0; i < 20; i++) messages.push(streamMessage(i, event(`node-ok-${i}`, 'node-ok', 36.6)));
  const { answers, status } = await rawStream(messages);
  assert.equal(status.code, grpc.status.OK, status.details);
  assert.equal(answers.length, 20);
  assert.ok(answers.every((a) => a.result === 'accepted'));
});
