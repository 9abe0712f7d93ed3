// Interop: the unmodified npm @azure/event-hubs (6.0.4) EventHubConsumerClient reads the
// telemetry that azure-iot-device + azure-iot-device-mqtt sent, through iothubd's Event
// Hubs-compatible AMQP endpoint on 5671, with the connection string iothubd prints at start.
// The parent starts the hub and re-runs this file with the hub's CA trusted
// (NODE_EXTRA_CA_CERTS is read at start-up); the child does the work.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { runTestsAsChild } = require('./support/hub');

const DEVICES = ['eh-dev-a', 'eh-dev-b', 'eh-dev-c'];
const PER_DEVICE = 20;

function expectedMessage(deviceId, i) {
  return {
    body: JSON.stringify({ deviceId, i, temperature: 20 + (i % 5) }),
    messageId: `${deviceId}-msg-${i}`,
    correlationId: `${deviceId}-corr-${i}`,
    props: { k: `v${i}`, device: deviceId },
  };
}

// Like support/hub.js, but keeps the banner: the test reads the Event Hubs-compatible
// connection string that iothubd prints.
async function startHubWithBanner() {
  const iothubd = process.env.IOTHUBD || path.resolve(__dirname, '../../build/iothubd');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'iothubd-interop-'));
  const proc = spawn(iothubd, ['--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  await new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Service REST API:')) resolve();
    });
    proc.on('exit', (code) => reject(new Error(`iothubd exited ${code}:\n${err}`)));
  });
  return {
    banner: out,
    connectionString: out.match(/^\s*(HostName=\S+)$/m)[1],
    caFile: out.match(/CA certificate for clients to trust:\n\s*(\S+)/)[1],
    policy(name) {
      return execFileSync(iothubd, ['--data-dir', dataDir, '--print-connection-string', name]).toString().trim();
    },
    log: () => err,
    async stop() {
      const exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
      proc.kill('SIGTERM');
      const code = await exited;
      fs.rmSync(dataDir, { recursive: true, force: true });
      for (const marker of ['ERROR: AddressSanitizer', 'runtime error:', 'ERROR: LeakSanitizer']) {
        if (err.includes(marker)) throw new Error(`sanitizer report in iothubd's log:\n${err}`);
      }
      return code;
    },
  };
}

if (!process.env.IOTHUB_INTEROP_CHILD) {
  test('@azure/event-hubs reads device telemetry from the Event Hubs-compatible endpoint', async () => {
    const hub = await startHubWithBanner();
    try {
      const eventHubCs = hub.banner.match(/Event Hubs-compatible endpoint:\n\s*(Endpoint=\S+)/)[1];
      assert.match(eventHubCs, /^Endpoint=sb:\/\/localhost\/;SharedAccessKeyName=iothubowner;SharedAccessKey=\S+;EntityPath=localhost$/);
      runTestsAsChild(__filename, hub, {
        HUB_EVENTHUB_CS: eventHubCs,
        HUB_REGISTRY_READ_CS: hub.policy('registryRead'),
      }, () => process.stderr.write(hub.log()));
    } finally {
      const code = await hub.stop();
      if (process.env.HUB_LOG_FILE) fs.writeFileSync(process.env.HUB_LOG_FILE, hub.log());
      assert.equal(code, 0, 'iothubd did not exit cleanly');
    }
  });
} else {
  const { Registry } = require('azure-iothub');
  const { Client, Message } = require('azure-iot-device');
  const { Mqtt } = require('azure-iot-device-mqtt');
  const { EventHubConsumerClient, earliestEventPosition, latestEventPosition } = require('@azure/event-hubs');
  const crypto = require('node:crypto');

  const ehCs = process.env.HUB_EVENTHUB_CS;
  const noRetry = { retryOptions: { maxRetries: 0, timeoutInMs: 10000 } };
  let registry;
  const deviceCs = {};
  const clients = [];
  let sentAt; // ms before the first send

  before(async () => {
    registry = Registry.fromConnectionString(process.env.HUB_OWNER_CS);
    for (const id of DEVICES) {
      const { responseBody: dev } = await registry.create({ deviceId: id, status: 'enabled' });
      deviceCs[id] = `HostName=localhost;DeviceId=${id};SharedAccessKey=${dev.authentication.symmetricKey.primaryKey}`;
    }
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
  });

  function consumer(cs = ehCs, options = {}) {
    const c = new EventHubConsumerClient('$Default', cs, options);
    clients.push(c);
    return c;
  }

  async function sendFrom(deviceId, first, count) {
    const client = Client.fromConnectionString(deviceCs[deviceId], Mqtt);
    await client.open();
    try {
      for (let i = first; i < first + count; i++) {
        const want = expectedMessage(deviceId, i);
        const msg = new Message(want.body);
        msg.messageId = want.messageId;
        msg.correlationId = want.correlationId;
        msg.contentType = 'application/json';
        msg.contentEncoding = 'utf-8';
        for (const [k, v] of Object.entries(want.props)) msg.properties.add(k, v);
        await client.sendEvent(msg);
      }
    } finally {
      await client.close();
    }
  }

  // Receives from one partition starting at `startPosition` until `want` events arrived (or
  // `ms` passed) and returns them.
  async function receive(client, partitionId, startPosition, want, ms = 15000, extra = {}) {
    const events = [];
    const errors = [];
    let sub;
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      sub = client.subscribe(partitionId, {
        processEvents: async (batch) => {
          events.push(...batch);
          if (events.length >= want) { clearTimeout(timer); resolve(); }
        },
        processError: async (err) => { errors.push(err); },
      }, { startPosition, maxBatchSize: 50, maxWaitTimeInSeconds: 1, skipParsingBodyAsJson: true, ...extra });
    });
    await sub.close();
    return { events, errors };
  }

  const byPartition = {}; // partitionId -> events, in partition order

  test('devices send telemetry over MQTT', async () => {
    sentAt = Date.now();
    await Promise.all(DEVICES.map((id) => sendFrom(id, 0, PER_DEVICE)));
  });

  test('getEventHubProperties and getPartitionProperties agree with what was sent', async () => {
    const client = consumer();
    const props = await client.getEventHubProperties();
    assert.equal(props.name, 'localhost');
    assert.deepEqual(props.partitionIds, ['0', '1', '2', '3']);
    assert.ok(props.createdOn instanceof Date);
    let total = 0;
    for (const id of props.partitionIds) {
      const p = await client.getPartitionProperties(id);
      assert.equal(p.eventHubName, 'localhost');
      assert.equal(p.partitionId, id);
      if (p.isEmpty) {
        assert.equal(p.lastEnqueuedSequenceNumber, -1);
        continue;
      }
      assert.equal(p.beginningSequenceNumber, 0);
      total += p.lastEnqueuedSequenceNumber + 1;
      assert.ok(p.lastEnqueuedOnUtc.getTime() >= sentAt - 1000, 'last enqueued time is recent');
      assert.match(String(p.lastEnqueuedOffset), /^\d+$/);
    }
    assert.equal(total, DEVICES.length * PER_DEVICE);
  });

  test('subscribe from the earliest position on all partitions receives every message', async () => {
    const client = consumer();
    const all = [];
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${all.length} events arrived`)), 30000);
      const sub = client.subscribe({
        processEvents: async (batch, ctx) => {
          for (const e of batch) {
            all.push(e);
            (byPartition[ctx.partitionId] ||= []).push(e);
          }
          if (all.length >= DEVICES.length * PER_DEVICE) {
            clearTimeout(timer);
            sub.close().then(resolve, reject);
          }
        },
        processError: async (err) => { clearTimeout(timer); reject(err); },
      }, { startPosition: earliestEventPosition, maxBatchSize: 100, maxWaitTimeInSeconds: 1, skipParsingBodyAsJson: true });
    });
    assert.equal(all.length, DEVICES.length * PER_DEVICE);
    for (const id of DEVICES) {
      const mine = all.filter((e) => e.systemProperties['iothub-connection-device-id'] === id);
      assert.equal(mine.length, PER_DEVICE, `every message of ${id}`);
      mine.forEach((e, i) => {
        const want = expectedMessage(id, i);
        assert.equal(Buffer.from(e.body).toString('utf8'), want.body, `${id} message ${i} in order`);
        assert.equal(e.messageId, want.messageId);
        assert.equal(e.correlationId, want.correlationId);
        assert.equal(e.contentType, 'application/json');
        assert.deepEqual(e.properties, want.props);
        const sys = e.systemProperties;
        assert.equal(sys['iothub-message-source'], 'Telemetry');
        assert.match(sys['iothub-connection-auth-generation-id'], /^\d+$/);
        const method = JSON.parse(sys['iothub-connection-auth-method']);
        assert.equal(method.scope, 'device');
        assert.equal(method.type, 'sas');
        assert.equal(sys.contentEncoding, 'utf-8');
        assert.ok(e.enqueuedTimeUtc instanceof Date);
        assert.ok(e.enqueuedTimeUtc.getTime() >= sentAt - 1000);
        assert.equal(typeof e.sequenceNumber, 'number');
        assert.match(String(e.offset), /^\d+$/);
        if (i > 0) assert.ok(e.sequenceNumber > mine[i - 1].sequenceNumber);
      });
    }
    for (const events of Object.values(byPartition)) {
      events.forEach((e, i) => assert.equal(e.sequenceNumber, i, 'sequence numbers from 0, gapless'));
    }
  });

  function busiestPartition() {
    const [id, events] = Object.entries(byPartition).sort((a, b) => b[1].length - a[1].length)[0];
    assert.ok(events.length >= 5);
    return { id, events };
  }

  test('starting from an offset, a sequence number and an enqueued time yields the right first event', async () => {
    const client = consumer();
    const { id, events } = busiestPartition();
    const e = events[2];
    let r = await receive(client, id, { offset: e.offset }, 1);
    assert.equal(r.events[0].sequenceNumber, e.sequenceNumber + 1, 'offset, exclusive');
    r = await receive(client, id, { offset: e.offset, isInclusive: true }, 1);
    assert.equal(r.events[0].sequenceNumber, e.sequenceNumber, 'offset, inclusive');
    r = await receive(client, id, { sequenceNumber: e.sequenceNumber }, 1);
    assert.equal(r.events[0].sequenceNumber, e.sequenceNumber + 1, 'sequence number, exclusive');
    r = await receive(client, id, { sequenceNumber: e.sequenceNumber, isInclusive: true }, 1);
    assert.equal(r.events[0].sequenceNumber, e.sequenceNumber, 'sequence number, inclusive');
    const t = e.enqueuedTimeUtc.getTime();
    const firstAfter = events.find((x) => x.enqueuedTimeUtc.getTime() > t);
    if (firstAfter) {
      r = await receive(client, id, { enqueuedOn: e.enqueuedTimeUtc }, 1);
      assert.equal(r.events[0].sequenceNumber, firstAfter.sequenceNumber, 'enqueued time');
    }
    r = await receive(client, id, { enqueuedOn: new Date(events[0].enqueuedTimeUtc.getTime() - 1) }, 1);
    assert.equal(r.events[0].sequenceNumber, 0, 'enqueued time before everything');
    for (const x of r.errors) assert.fail(`unexpected error: ${x}`);
  });

  test('a consumer at the latest position is woken by new telemetry', async () => {
    const client = consumer();
    const partitionId = String(Object.entries(byPartition)
      .find(([, evs]) => evs.some((e) => e.systemProperties['iothub-connection-device-id'] === DEVICES[0]))[0]);
    const got = [];
    let resolveGot;
    const arrived = new Promise((r) => { resolveGot = r; });
    const sub = client.subscribe(partitionId, {
      processEvents: async (batch) => { got.push(...batch); if (got.length) resolveGot(); },
      processError: async () => {},
    }, { startPosition: latestEventPosition, maxWaitTimeInSeconds: 1, skipParsingBodyAsJson: true });
    await new Promise((r) => setTimeout(r, 1500)); // the link is attached
    await sendFrom(DEVICES[0], PER_DEVICE, 1);
    await Promise.race([arrived, new Promise((_, rej) => setTimeout(() => rej(new Error('no event')), 10000))]);
    await sub.close();
    assert.equal(got.length, 1, 'only the event sent after the attach');
    assert.equal(got[0].messageId, expectedMessage(DEVICES[0], PER_DEVICE).messageId);
  });

  test('a receiver with a higher owner level disconnects a lower one', async () => {
    const client = consumer();
    const errors = [];
    const low = client.subscribe('0', {
      processEvents: async () => {},
      processError: async (err) => { errors.push(err); },
    }, { startPosition: earliestEventPosition, ownerLevel: 1, maxWaitTimeInSeconds: 1 });
    await new Promise((r) => setTimeout(r, 1500));
    const other = consumer();
    const high = await receive(other, '0', earliestEventPosition, 1, 3000, { ownerLevel: 2 });
    assert.deepEqual(high.errors, []);
    const deadline = Date.now() + 10000;
    while (!errors.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await low.close();
    assert.ok(errors.length > 0, 'the lower owner level was disconnected');
    assert.equal(errors[0].code, 'ReceiverDisconnectedError', String(errors[0]));
  });

  test('a wrong key is refused', async () => {
    const bad = ehCs.replace(/SharedAccessKey=[^;]+/, 'SharedAccessKey=' + Buffer.alloc(32, 7).toString('base64'));
    const client = consumer(bad, noRetry);
    await assert.rejects(client.getEventHubProperties(), (err) => {
      assert.match(`${err.code} ${err.message}`, /Unauthorized|401|signature/i);
      return true;
    });
  });

  test('an unknown partition is refused', async () => {
    const client = consumer(ehCs, noRetry);
    await assert.rejects(client.getPartitionProperties('99'), (err) => {
      assert.match(`${err.code} ${err.message}`, /not ?found|404|partition/i);
      return true;
    });
    const r = await receive(client, '99', earliestEventPosition, 1, 5000);
    assert.equal(r.events.length, 0);
    assert.ok(r.errors.length > 0, 'the receiver reported an error');
    assert.match(`${r.errors[0].code} ${r.errors[0].message}`, /not ?found|partition/i);
  });

  test('a policy without ServiceConnect is refused', async () => {
    const key = process.env.HUB_REGISTRY_READ_CS.match(/SharedAccessKey=([^;]+)/)[1];
    const cs = ehCs.replace(/SharedAccessKeyName=[^;]+/, 'SharedAccessKeyName=registryRead')
      .replace(/SharedAccessKey=[^;]+/, `SharedAccessKey=${key}`);
    const client = consumer(cs, noRetry);
    await assert.rejects(client.getEventHubProperties(), (err) => {
      assert.match(`${err.code} ${err.message}`, /Unauthorized|401|ServiceConnect/i);
      return true;
    });
  });

  // A SASCredential (@azure/core-auth's interface): the client puts this token as it is.
  function sasCredential(signature) {
    return { signature, update(s) { this.signature = s; } };
  }

  test('an expired token is refused', async () => {
    const key = ehCs.match(/SharedAccessKey=([^;]+)/)[1];
    const sr = encodeURIComponent('sb://localhost/localhost');
    const se = Math.floor(Date.now() / 1000) - 60;
    const sig = crypto.createHmac('sha256', Buffer.from(key, 'utf8')).update(`${sr}\n${se}`).digest('base64');
    const token = `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}&skn=iothubowner`;
    const client = new EventHubConsumerClient('$Default', 'localhost', 'localhost', sasCredential(token), noRetry);
    clients.push(client);
    await assert.rejects(client.getEventHubProperties(), (err) => {
      assert.match(`${err.code} ${err.message}`, /Unauthorized|401|expired/i);
      return true;
    });
  });

  test('an unknown consumer group is refused', async () => {
    const client = new EventHubConsumerClient('no-such-group', ehCs, noRetry);
    clients.push(client);
    const r = await receive(client, '0', earliestEventPosition, 1, 5000);
    assert.equal(r.events.length, 0);
    assert.ok(r.errors.length > 0, 'the receiver reported an error');
    assert.match(`${r.errors[0].code} ${r.errors[0].message}`, /not ?found|consumer group/i);
  });

  test('a malformed start position is refused', async () => {
    const client = consumer(ehCs, noRetry);
    const r = await receive(client, '0', { offset: 'not-a-number' }, 1, 5000);
    assert.equal(r.events.length, 0);
    assert.ok(r.errors.length > 0, 'the receiver reported an error');
    assert.match(`${r.errors[0].code} ${r.errors[0].message}`, /selector filter|invalid/i);
  });
}
