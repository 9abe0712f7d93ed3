#!/usr/bin/env node
// Reads telemetry through iothubd's Event Hubs-compatible endpoint with the unmodified npm
// @azure/event-hubs EventHubConsumerClient, for the Python integration tests.
//
//   node eh-read.js "<Event Hubs connection string>" COUNT [TIMEOUT_S] [CONSUMER_GROUP]
//
// Subscribes on all partitions from the earliest position and prints each event as one JSON
// line: {"deviceId","partitionId","sequenceNumber","body","messageId","correlationId",
// "properties"}; body is the UTF-8 text of the data section (else base64 with
// "bodyEncoding":"base64"). Exits 0 after COUNT events; 2 on a timeout (default 30 s) with the
// events seen so far printed; 1 on an error (to stderr). The hub's CA must be trusted through
// NODE_EXTRA_CA_CERTS in the environment (Node reads it at start-up).
'use strict';
const path = require('node:path');

const { EventHubConsumerClient, earliestEventPosition } = require(
  path.join(__dirname, '..', 'node_modules', '@azure', 'event-hubs'));

function usage() {
  process.stderr.write('usage: eh-read.js CONNECTION_STRING COUNT [TIMEOUT_S] [CONSUMER_GROUP]\n');
  process.exit(64);
}

function bodyOf(body) {
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) {
    const buf = Buffer.from(body);
    const text = buf.toString('utf8');
    if (Buffer.from(text, 'utf8').equals(buf)) return { body: text };
    return { body: buf.toString('base64'), bodyEncoding: 'base64' };
  }
  return { body: typeof body === 'string' ? body : JSON.stringify(body) };
}

function plain(value) {
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  return value;
}

async function main() {
  const [cs, countArg, timeoutArg, group] = process.argv.slice(2);
  const count = Number(countArg);
  if (!cs || !Number.isInteger(count) || count < 1) usage();
  const timeoutMs = 1000 * Number(timeoutArg || 30);
  const client = new EventHubConsumerClient(group || '$Default', cs);
  let seen = 0;
  let finish;
  const done = new Promise((resolve) => { finish = resolve; });
  const timer = setTimeout(() => finish(2), timeoutMs);
  const sub = client.subscribe({
    processEvents: async (events, context) => {
      for (const e of events) {
        if (seen >= count) break;
        const sys = e.systemProperties || {};
        const line = {
          deviceId: sys['iothub-connection-device-id'] ?? null,
          partitionId: context.partitionId,
          sequenceNumber: e.sequenceNumber,
          ...bodyOf(e.body),
          messageId: plain(e.messageId ?? null),
          correlationId: plain(e.correlationId ?? null),
          properties: Object.fromEntries(
            Object.entries(e.properties || {}).map(([k, v]) => [k, plain(v)])),
        };
        process.stdout.write(JSON.stringify(line) + '\n');
        seen++;
      }
      if (seen >= count) finish(0);
    },
    processError: async (err, context) => {
      process.stderr.write(`eh-read: partition ${context.partitionId}: ${err.message}\n`);
    },
  }, { startPosition: earliestEventPosition, maxBatchSize: 100, maxWaitTimeInSeconds: 1,
       skipParsingBodyAsJson: true });
  const code = await done;
  clearTimeout(timer);
  await sub.close();
  await client.close();
  if (code === 2) process.stderr.write(`eh-read: timed out after ${seen} of ${count} events\n`);
  process.exitCode = code;
}

main().catch((err) => {
  process.stderr.write(`eh-read: ${err.stack || err}\n`);
  process.exit(1);
});
