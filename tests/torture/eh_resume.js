#!/usr/bin/env node
// An Event Hubs consumer that resumes from saved offsets, for the torture suite: the
// unmodified npm @azure/event-hubs EventHubConsumerClient against iothubd's Event
// Hubs-compatible endpoint.
//
//   node eh_resume.js CONNECTION_STRING POSITIONS_JSON [UNTIL_JSON] [TIMEOUT_S]
//
// POSITIONS_JSON maps partition ids to the offset of the last event the consumer processed
// before ({"0": "4352"}): it starts after it (exclusive). A partition not named starts at the
// earliest event. Prints one JSON line per event, at once (the line is the checkpoint):
// {"p","seq","offset","mid","dev"}. With UNTIL_JSON ({"0": 41, ...}: sequence numbers) it exits
// 0 once every named partition has delivered that sequence number, and 2 at TIMEOUT_S (default
// 60) with the events seen so far printed. Without it, it runs until it is killed (the torture
// runner kills it with the hub) or until TIMEOUT_S, then exits 0. 1 on an error. The hub's CA
// must be trusted through NODE_EXTRA_CA_CERTS.
'use strict';
const path = require('node:path');

const { EventHubConsumerClient, earliestEventPosition } = require(
  path.join(__dirname, '..', 'interop', 'node_modules', '@azure', 'event-hubs'));

async function main() {
  const [cs, positionsArg, untilArg, timeoutArg] = process.argv.slice(2);
  if (!cs || !positionsArg) {
    process.stderr.write('usage: eh_resume.js CS POSITIONS_JSON [UNTIL_JSON] [TIMEOUT_S]\n');
    process.exit(64);
  }
  const positions = JSON.parse(positionsArg);
  const until = untilArg && untilArg !== '-' ? JSON.parse(untilArg) : null;
  const timeoutMs = 1000 * Number(timeoutArg || 60);
  const client = new EventHubConsumerClient('$Default', cs);
  const ids = await client.getPartitionIds();
  const start = {};
  for (const id of ids) {
    start[id] = positions[id] !== undefined && positions[id] !== null
      ? { offset: positions[id], isInclusive: false }
      : earliestEventPosition;
  }
  const reached = {};
  let finish;
  const done = new Promise((resolve) => { finish = resolve; });
  const timer = setTimeout(() => finish(until ? 2 : 0), timeoutMs);
  const allReached = () => until && Object.keys(until).every((p) => reached[p] >= until[p]);
  if (allReached()) finish(0);
  const sub = client.subscribe({
    processEvents: async (events, context) => {
      for (const e of events) {
        const sys = e.systemProperties || {};
        const mid = e.messageId;
        process.stdout.write(JSON.stringify({
          p: context.partitionId,
          seq: e.sequenceNumber,
          offset: String(e.offset),
          mid: Buffer.isBuffer(mid) ? mid.toString('utf8') : (mid ?? null),
          dev: sys['iothub-connection-device-id'] ?? null,
        }) + '\n');
        reached[context.partitionId] = e.sequenceNumber;
      }
      if (allReached()) finish(0);
    },
    processError: async (err, context) => {
      process.stderr.write(`eh_resume: partition ${context.partitionId}: ${err.message}\n`);
    },
  }, { startPosition: start, maxBatchSize: 500, maxWaitTimeInSeconds: 1,
       skipParsingBodyAsJson: true });
  const code = await done;
  clearTimeout(timer);
  await sub.close();
  await client.close();
  if (code === 2) process.stderr.write(`eh_resume: timed out before ${JSON.stringify(until)}\n`);
  process.exitCode = code;
}

main().catch((err) => {
  process.stderr.write(`eh_resume: ${err.stack || err}\n`);
  process.exit(1);
});
