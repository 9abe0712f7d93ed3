// Interop: cloud-to-device end to end with the unmodified npm SDKs. azure-iothub's Client
// (AMQP, no SASL, CBS token for the host) sends to /messages/devicebound; the device
// (azure-iot-device + azure-iot-device-mqtt) gets the `message` event with every property
// and completes it; the service's feedback receiver (/messages/serviceBound/feedback) then
// hears Success for that message id. The parent starts the hub (short feedback delay) and
// re-runs this file with the hub's CA trusted (NODE_EXTRA_CA_CERTS is read at start-up).
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startHub, runTestsAsChild } = require('./support/hub');

const DEVICE_ID = 'node-c2d-dev';

if (!process.env.IOTHUB_INTEROP_CHILD) {
  test('azure-iothub C2D and feedback with azure-iot-device-mqtt', async () => {
    const hub = await startHub(['--c2d-feedback-delay-ms', '200']);
    try {
      runTestsAsChild(__filename, hub);
    } finally {
      assert.equal(await hub.stop(), 0, 'iothubd did not exit cleanly');
    }
  });
} else {
  const { Registry, Client: ServiceClient } = require('azure-iothub');
  const { Client: DeviceClient, Message } = require('azure-iot-device');
  const { Mqtt } = require('azure-iot-device-mqtt');
  const { NoRetry } = require('azure-iot-common');

  let service;
  let device;
  let generationId;

  before(async () => {
    const registry = Registry.fromConnectionString(process.env.HUB_OWNER_CS);
    const { responseBody: dev } = await registry.create({ deviceId: DEVICE_ID });
    generationId = dev.generationId;
    const host = /HostName=([^;]+)/.exec(process.env.HUB_OWNER_CS)[1];
    const key = dev.authentication.symmetricKey.primaryKey;
    device = DeviceClient.fromConnectionString(
      `HostName=${host};DeviceId=${DEVICE_ID};SharedAccessKey=${key}`, Mqtt);
    await device.open();
    service = ServiceClient.fromConnectionString(process.env.HUB_OWNER_CS);
    service.setRetryPolicy(new NoRetry());
    await service.open();
  });

  after(async () => {
    if (device) await device.close();
    if (service) await service.close();
  });

  // Settlement of feedback with a raw AMQP receiver (rhea, which azure-iothub is built on):
  // left unsettled and detached -> sent again; released -> sent again; rejected -> gone.
  // Runs first: azure-iothub's own feedback receiver (next test) auto-accepts everything.
  test('feedback settlement: detach and release give it back, reject drops it', async () => {
    const rhea = require('rhea');
    const crypto = require('node:crypto');
    const cs = Object.fromEntries(process.env.HUB_OWNER_CS.split(';').map((p) => {
      const i = p.indexOf('=');
      return [p.slice(0, i), p.slice(i + 1)];
    }));
    const se = Math.floor(Date.now() / 1000) + 3600;
    const sr = encodeURIComponent(cs.HostName);
    const sig = crypto.createHmac('sha256', Buffer.from(cs.SharedAccessKey, 'base64'))
      .update(`${sr}\n${se}`).digest('base64');
    const token = `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}` +
      `&skn=${cs.SharedAccessKeyName}`;

    const container = rhea.create_container();
    const conn = container.connect({
      host: cs.HostName, port: 5671, transport: 'tls', servername: cs.HostName, reconnect: false,
    });
    const once = (emitter, event) => new Promise((resolve) => emitter.once(event, resolve));
    try {
      await once(conn, 'connection_open');
      const cbsOut = conn.open_sender('$cbs');
      const cbsIn = conn.open_receiver('$cbs');
      await once(cbsOut, 'sendable');
      const reply = once(cbsIn, 'message');
      cbsOut.send({
        message_id: 'put-1', reply_to: 'cbs', to: '$cbs', body: token,
        application_properties: {
          operation: 'put-token', type: 'servicebus.windows.net:sastoken', name: cs.HostName,
        },
      });
      assert.equal((await reply).message.application_properties['status-code'], 200);

      // A batch arrives on a new receiver; returns [delivery, records].
      const nextBatch = (receiver) => once(receiver, 'message').then((ctx) => {
        const body = ctx.message.body;
        const data = Buffer.isBuffer(body) ? body : body.content;
        return [ctx.delivery, JSON.parse(data.toString())];
      });
      const openReceiver = () => conn.open_receiver({
        source: { address: '/messages/serviceBound/feedback' }, autoaccept: false,
      });
      const ids = (records) => records.map((r) => `${r.originalMessageId}:${r.statusCode}`);

      const completed = new Promise((resolve) => {
        const seen = new Set();
        device.on('message', (msg) => {
          device.complete(msg, () => {
            seen.add(msg.messageId);
            if (seen.has('settle-1')) resolve();
          });
        });
      });
      const m = new Message('settle me');
      m.messageId = 'settle-1';
      m.ack = 'positive';
      await service.send(DEVICE_ID, m);
      await completed;

      let receiver = openReceiver();
      let [, records] = await nextBatch(receiver);
      assert.deepEqual(ids(records), ['settle-1:Success']);
      receiver.close(); // detached with the delivery unsettled
      await once(receiver, 'receiver_close');

      receiver = openReceiver();
      let delivery;
      [delivery, records] = await nextBatch(receiver);
      assert.deepEqual(ids(records), ['settle-1:Success'], 'sent again after the detach');
      const again = nextBatch(receiver);
      delivery.release();
      [delivery, records] = await again;
      assert.deepEqual(ids(records), ['settle-1:Success'], 'sent again after release');
      delivery.reject({ condition: 'test:rejected', description: 'dropped by the test' });

      // Rejected: the next batch holds only what came after.
      const later = nextBatch(receiver);
      const m2 = new Message('after');
      m2.messageId = 'settle-2';
      m2.ack = 'full';
      await service.send(DEVICE_ID, m2);
      [delivery, records] = await later;
      assert.deepEqual(ids(records), ['settle-2:Success']);
      delivery.accept();
      receiver.close();
      await once(receiver, 'receiver_close');
    } finally {
      conn.close();
    }
  });

  test('send -> message event with its properties -> complete -> Success feedback', async () => {
    const { result: receiver } = await service.getFeedbackReceiver();
    const feedback = [];
    const gotFeedback = new Promise((resolve) => {
      receiver.on('message', (msg) => {
        assert.equal(msg.contentType, 'application/vnd.microsoft.iothub.feedback.json');
        for (const r of JSON.parse(msg.getData().toString())) feedback.push(r);
        if (feedback.some((r) => r.originalMessageId === 'node-c2d-1')) resolve();
      });
    });
    const received = new Promise((resolve) => {
      device.on('message', (msg) => {
        device.complete(msg, () => resolve(msg));
      });
    });

    const m = new Message(JSON.stringify({ command: 'blink' }));
    m.messageId = 'node-c2d-1';
    m.correlationId = 'corr-1';
    m.ack = 'full';
    m.contentType = 'application/json';
    m.contentEncoding = 'utf-8';
    m.expiryTimeUtc = Date.now() + 3600 * 1000;
    m.properties.add('color', 'red');
    m.properties.add('with space', 'a&b=c');
    await service.send(DEVICE_ID, m);

    const got = await received;
    assert.equal(got.getData().toString(), '{"command":"blink"}');
    assert.equal(got.messageId, 'node-c2d-1');
    assert.equal(got.correlationId, 'corr-1');
    assert.equal(got.to, `/devices/${DEVICE_ID}/messages/deviceBound`);
    assert.equal(got.contentType, 'application/json');
    assert.equal(got.contentEncoding, 'utf-8');
    assert.equal(got.properties.getValue('color'), 'red');
    assert.equal(got.properties.getValue('with space'), 'a&b=c');
    assert.equal(got.properties.getValue('iothub-ack'), 'full');

    await gotFeedback;
    const rec = feedback.find((r) => r.originalMessageId === 'node-c2d-1');
    assert.equal(rec.statusCode, 'Success');
    assert.equal(rec.description, 'Success');
    assert.equal(rec.deviceId, DEVICE_ID);
    assert.equal(rec.deviceGenerationId, generationId);
    assert.ok(!Number.isNaN(Date.parse(rec.enqueuedTimeUtc)));
  });

  test('unknown device: DeviceNotFoundError', async () => {
    await assert.rejects(service.send('no-such-device', new Message('x')),
      (err) => err.constructor.name === 'DeviceNotFoundError');
  });
}
