// An independent client over mutual TLS and bearer tokens: Node's
// @grpc/grpc-js against a real gridcased that is not a development server
// (certificates made here with the openssl command, a principals file, a
// single sign-on issuer whose tokens are signed here with Node's crypto).
// It checks what docs/security.md promises a client author: a certificate
// names the caller and binds its actor; a token does the same over TLS;
// a client without either, from another CA or in plaintext is refused;
// only a privacy officer erases a person (docs/privacy.md).
//
// Environment: as gridcased.js says.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const { v1, startGridcased, stopGridcased } = require('./gridcased.js');

const ISSUER = 'https://sso.test.invalid';
let dir;
let server;
let address;
let issuerKey;  // the issuer's private key: tokens are signed with it

function openssl(...args) {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

// A CA `name`, and a certificate signed by it for each [file, SAN].
function makeCa(name, leaves) {
  const ca = path.join(dir, name);
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
          '-days', '2', '-subj', `/CN=${name}`, '-keyout', `${ca}.key`, '-out', `${ca}.pem`);
  for (const [file, san] of leaves) {
    const leaf = path.join(dir, file);
    openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
            '-subj', `/CN=${file}`, '-keyout', `${leaf}.key`, '-out', `${leaf}.csr`);
    fs.writeFileSync(`${leaf}.ext`,
                     `subjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth\n`);
    openssl('x509', '-req', '-in', `${leaf}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`,
            '-CAcreateserial', '-days', '2', '-extfile', `${leaf}.ext`, '-out', `${leaf}.pem`);
    fs.chmodSync(`${leaf}.key`, 0o600);
  }
}

function read(file) { return fs.readFileSync(path.join(dir, file)); }

test.before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gridcase-node-tls-'));
  makeCa('ca', [['server', 'IP:127.0.0.1'], ['feed', 'URI:gridcase:app:feed'],
                 ['ops', 'URI:gridcase:person:ops'], ['dpo', 'URI:gridcase:person:dpo']]);
  makeCa('other-ca', [['stranger', 'URI:gridcase:app:feed']]);
  fs.writeFileSync(path.join(dir, 'principals.json'),
                   JSON.stringify({ applications: [{ id: 'feed', units: ['*'] }],
                                    operators: ['ops'], privacy_officers: ['dpo'] }));
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  issuerKey = privateKey;
  fs.writeFileSync(path.join(dir, 'sso.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
  fs.writeFileSync(path.join(dir, 'issuers.json'), JSON.stringify([
    { issuer: ISSUER, audience: 'gridcase', keys: { k1: path.join(dir, 'sso.pem') } },
  ]));
  ({ server, address } = await startGridcased(path.join(dir, 'data'), [
    '--tls-cert', path.join(dir, 'server.pem'), '--tls-key', path.join(dir, 'server.key'),
    '--tls-client-ca', path.join(dir, 'ca.pem'),
    '--principals', path.join(dir, 'principals.json'),
    '--token-issuers', path.join(dir, 'issuers.json'),
  ]));
});

test.after(async () => {
  await stopGridcased(server);
  fs.rmSync(dir, { recursive: true, force: true });
});

// Channel credentials trusting the test CA, presenting `leaf`'s pair.
function tls(leaf) {
  if (!leaf) return grpc.credentials.createSsl(read('ca.pem'));
  return grpc.credentials.createSsl(read('ca.pem'), read(`${leaf}.key`), read(`${leaf}.pem`));
}

// A JWT as a single sign-on would issue it, signed by `key` (EdDSA).
function token(claims, key = issuerKey) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64({ alg: 'EdDSA', kid: 'k1', typ: 'JWT' })}.${b64({
    iss: ISSUER, aud: 'gridcase', iat: now, exp: now + 300, ...claims,
  })}`;
  return `${body}.${crypto.sign(null, Buffer.from(body), key).toString('base64url')}`;
}

function withToken(jwt) {
  return grpc.credentials.combineChannelCredentials(
      tls(null), grpc.credentials.createFromMetadataGenerator((_, done) => {
        const md = new grpc.Metadata();
        md.set('authorization', `Bearer ${jwt}`);
        done(null, md);
      }));
}

// Calls `method` of a new `Service` client on `credentials`; resolves with
// { err, response }.
function call(Service, credentials, method, request) {
  const client = new Service(address, credentials);
  return new Promise((resolve) => {
    client[method](request, { deadline: Date.now() + 10000 }, (err, response) => {
      client.close();
      resolve({ err, response });
    });
  });
}

function event(eventId, caseId, actor) {
  return {
    eventId,
    caseId,
    occurredAt: { seconds: Math.floor(Date.now() / 1000), nanos: 0 },
    actor,
    gridId: 'jiangan-07-03',
    feverReading: { celsius: 36.8 },
  };
}

const FEED = { id: 'feed', kind: 'ACTOR_KIND_APP' };

test('an application with its certificate submits as itself and reads back', async () => {
  const submitted = await call(v1.EventService, tls('feed'), 'Submit',
                               { event: event('tls-1', 'tls-case', FEED) });
  assert.ifError(submitted.err);
  assert.equal(submitted.response.eventId, 'tls-1');
  const read = await call(v1.CaseService, tls('feed'), 'GetCase', { caseId: 'tls-case' });
  assert.ifError(read.err);
  assert.equal(read.response.caseId, 'tls-case');
});

test('an application cannot submit as a person it may not act for', async () => {
  const { err } = await call(v1.EventService, tls('feed'), 'Submit', {
    event: event('tls-2', 'tls-case', { id: 'worker-li', kind: 'ACTOR_KIND_PERSON' }),
  });
  assert.ok(err);
  assert.equal(err.code, grpc.status.PERMISSION_DENIED, err.details);
  assert.match(err.details, /feed/);
  assert.match(err.details, /worker-li/);
});

test('a bearer token over TLS names the caller; a forged one is refused unechoed', async () => {
  const good = await call(v1.CaseService, withToken(token({ sub: 'gridcase:app:feed' })),
                          'GetCase', { caseId: 'tls-case' });
  assert.ifError(good.err);
  assert.equal(good.response.caseId, 'tls-case');

  const forger = crypto.generateKeyPairSync('ed25519').privateKey;
  const forged = token({ sub: 'gridcase:app:feed' }, forger);
  const bad = await call(v1.CaseService, withToken(forged), 'GetCase', { caseId: 'tls-case' });
  assert.ok(bad.err);
  assert.equal(bad.err.code, grpc.status.UNAUTHENTICATED, bad.err.details);
  assert.ok(!bad.err.details.includes(forged.split('.')[2]), 'the token is never echoed');

  const expired = token({ sub: 'gridcase:app:feed', exp: Math.floor(Date.now() / 1000) - 600 });
  const late = await call(v1.CaseService, withToken(expired), 'GetCase', { caseId: 'tls-case' });
  assert.equal(late.err && late.err.code, grpc.status.UNAUTHENTICATED);
});

// Erasure of a person of the directory, by person_id, as a privacy
// officer's own tool would ask for it: only the officer may; afterwards the
// directory keeps the person's role and unit and forgets name and phone.
test('a privacy officer, and no one else, erases a person of the directory', async () => {
  const Admin = v1.AdminService;
  const entries = [
    { unit: { unitId: 'n-d', level: 'UNIT_LEVEL_DISTRICT' } },
    { unit: { unitId: 'n-s', level: 'UNIT_LEVEL_STREET', parentId: 'n-d' } },
    { unit: { unitId: 'n-c', level: 'UNIT_LEVEL_COMMUNITY', parentId: 'n-s' } },
    { unit: { unitId: 'n-g', level: 'UNIT_LEVEL_GRID', parentId: 'n-c' } },
    { person: { personId: 'n-worker', name: 'Zhang Nodemarker', role: 'ROLE_GRID_WORKER',
                unitId: 'n-g', phone: '13800000042' } },
  ];
  const imported = await call(Admin, tls('ops'), 'importDirectory', {
    entries, importId: 'node-directory-1', actor: { id: 'ops', kind: 'ACTOR_KIND_PERSON' },
  });
  assert.equal(imported.err, null, imported.err && imported.err.details);
  const before = await call(Admin, tls('feed'), 'getPerson', { personId: 'n-worker' });
  assert.equal(before.err, null, before.err && before.err.details);
  assert.equal(before.response.person.name, 'Zhang Nodemarker');

  const request = {
    personId: 'n-worker',
    reason: 'the worker left the service and asked for erasure',
    legalBasis: 'PIPL art. 47(1)',
  };
  for (const who of ['ops', 'feed']) {
    const refused = await call(Admin, tls(who), 'erasePerson', request);
    assert.equal(refused.err && refused.err.code, grpc.status.PERMISSION_DENIED, who);
  }
  const both = await call(Admin, tls('dpo'), 'erasePerson', { ...request, caseId: 'n-case' });
  assert.equal(both.err && both.err.code, grpc.status.INVALID_ARGUMENT);
  const unknown = await call(Admin, tls('dpo'), 'erasePerson', { ...request, personId: 'n-nobody' });
  assert.equal(unknown.err && unknown.err.code, grpc.status.NOT_FOUND);

  const erased = await call(Admin, tls('dpo'), 'erasePerson', request);
  assert.equal(erased.err, null, erased.err && erased.err.details);
  assert.ok(Number(erased.response.position) > 0);
  assert.equal(erased.response.duplicate, false);
  const again = await call(Admin, tls('dpo'), 'erasePerson', request);
  assert.equal(again.err, null, again.err && again.err.details);
  assert.equal(again.response.duplicate, true);
  assert.equal(again.response.position, erased.response.position);

  const after = await call(Admin, tls('feed'), 'getPerson', { personId: 'n-worker' });
  assert.equal(after.err, null, after.err && after.err.details);
  assert.equal(after.response.person.name, '');
  assert.equal(after.response.person.phone, '');
  assert.equal(after.response.person.role, 'ROLE_GRID_WORKER');
  assert.equal(after.response.person.unitId, 'n-g');
  assert.equal(after.response.erasedAt, erased.response.position);
});

test('no certificate and no token, another CA, or plaintext: nothing is served', async () => {
  const bare = await call(v1.CaseService, tls(null), 'GetCase', { caseId: 'tls-case' });
  assert.equal(bare.err && bare.err.code, grpc.status.UNAUTHENTICATED);

  const strangerCreds = grpc.credentials.createSsl(read('ca.pem'), read('stranger.key'),
                                                   read('stranger.pem'));
  const stranger = await call(v1.CaseService, strangerCreds, 'GetCase', { caseId: 'tls-case' });
  assert.equal(stranger.err && stranger.err.code, grpc.status.UNAVAILABLE,
               'a client certificate from another CA fails the handshake');

  const plain = await call(v1.CaseService, grpc.credentials.createInsecure(), 'GetCase',
                           { caseId: 'tls-case' });
  assert.equal(plain.err && plain.err.code, grpc.status.UNAVAILABLE);
});
