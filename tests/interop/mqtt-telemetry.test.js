// Interop: the unmodified npm azure-iot-device + azure-iot-device-mqtt send telemetry to
// iothubd over MQTT/TLS on 8883. The parent starts the hub and re-runs this file with the
// hub's CA trusted (NODE_EXTRA_CA_CERTS is read at start-up); the child creates a device with
// azure-iothub's Registry and sends COUNT messages through Client.fromConnectionString. The
// parent then stops the hub and checks with `iothubd --dump-events` that the log holds
// exactly those messages, with their properties, in order.
'use strict';
const { test, before } = require('node:test');
const assert = require('node:assert/strict');
const { startHub, runTestsAsChild } = require('./support/hub');

const DEVICE_ID = 'node-mqtt-dev';
const COUNT = 100;

function expectedMessage(i) {
  return {
    body: JSON.stringify({ deviceId: DEVICE_ID, i, temperature: 20 + (i % 7) / 2 }),
    messageId: `msg-${i}`,
    correlationId: `corr-${i}`,
    props: { k: `v${i}` },
  };
}

if (!process.env.IOTHUB_INTEROP_CHILD) {
  test('azure-iot-device over MQTT: every message lands in the event log', async () => {
    const hub = await startHub();
    let stopped = false;
    try {
      runTestsAsChild(__filename, hub);

      stopped = true;
      assert.equal(await hub.stop({ keepDataDir: true }), 0, 'iothubd did not exit cleanly');
      const records = hub.dumpEvents();
      const mine = records
        .filter((r) => r.system['iothub-connection-device-id'] === DEVICE_ID)
        .sort((a, b) => a.partition - b.partition || a.seq - b.seq);
      assert.equal(records.length, COUNT, 'nothing but the device\'s messages is stored');
      assert.equal(mine.length, COUNT, 'exactly the messages sent');
      assert.equal(new Set(mine.map((r) => r.partition)).size, 1, 'one partition per device');
      for (let i = 0; i < COUNT; i++) {
        const rec = mine[i];
        const want = expectedMessage(i);
        assert.equal(rec.system['message-id'], want.messageId, `record ${i} in send order`);
        assert.equal(rec.system['correlation-id'], want.correlationId);
        assert.equal(rec.system['content-type'], 'application/json');
        assert.equal(rec.system['content-encoding'], 'utf-8');
        assert.equal(rec.system['iothub-message-source'], 'Telemetry');
        assert.match(rec.system['iothub-connection-auth-generation-id'], /^\d+$/);
        const method = JSON.parse(rec.system['iothub-connection-auth-method']);
        assert.equal(method.scope, 'device');
        assert.equal(method.type, 'sas');
        assert.deepEqual(rec.app, want.props);
        assert.equal(rec.body.toString('utf8'), want.body);
        if (i > 0) assert.ok(rec.seq > mine[i - 1].seq);
      }
    } finally {
      if (!stopped) await hub.stop();
      else hub.removeDataDir();
    }
  });
} else {
  const { Registry } = require('azure-iothub');
  const { Client, Message } = require('azure-iot-device');
  const { Mqtt } = require('azure-iot-device-mqtt');
  let registry;
  let deviceConnectionString;

  before(() => {
    registry = Registry.fromConnectionString(process.env.HUB_OWNER_CS);
  });

  test('create the device with the Registry', async () => {
    const { responseBody: dev } = await registry.create({ deviceId: DEVICE_ID, status: 'enabled' });
    assert.equal(dev.deviceId, DEVICE_ID);
    const key = dev.authentication.symmetricKey.primaryKey;
    assert.equal(Buffer.from(key, 'base64').length, 32);
    deviceConnectionString = `HostName=localhost;DeviceId=${DEVICE_ID};SharedAccessKey=${key}`;
  });

  test(`Client.fromConnectionString over Mqtt sends ${COUNT} messages`, async () => {
    const client = Client.fromConnectionString(deviceConnectionString, Mqtt);
    const errors = [];
    client.on('error', (e) => errors.push(e));
    let disconnects = 0;
    client.on('disconnect', () => { disconnects++; });
    await client.open();
    try {
      assert.equal(await waitForState('Connected'), 'Connected');
      for (let i = 0; i < COUNT; i++) {
        const want = expectedMessage(i);
        const msg = new Message(want.body);
        msg.messageId = want.messageId;
        msg.correlationId = want.correlationId;
        msg.contentType = 'application/json';
        msg.contentEncoding = 'utf-8';
        msg.properties.add('k', want.props.k);
        const result = await client.sendEvent(msg);
        assert.equal(result.constructor.name, 'MessageEnqueued', `message ${i}`);
      }
    } finally {
      await client.close();
    }
    assert.deepEqual(errors, []);
    assert.equal(disconnects, 0, 'the hub never dropped the connection');
  });

  test('the registry shows the device disconnected after close', async () => {
    assert.equal(await waitForState('Disconnected'), 'Disconnected');
  });

  // Presence is written to the registry about once a second.
  async function waitForState(want, ms = 5000) {
    const deadline = Date.now() + ms;
    let state;
    while (Date.now() < deadline) {
      ({ responseBody: { connectionState: state } } = await registry.get(DEVICE_ID));
      if (state === want) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    return state;
  }
}
