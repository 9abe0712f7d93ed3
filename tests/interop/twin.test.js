// Interop: device twins with the unmodified npm SDKs against iothubd. The service side is
// azure-iothub's Registry (getTwin, Twin.update, updateTwin with an etag, a stale etag); the
// device side is azure-iot-device over azure-iot-device-mqtt (getTwin, reported update, the
// 'properties.desired' event, and the modelId of a device that opens with one). The test re-executes itself once with the hub's CA trusted
// through NODE_EXTRA_CA_CERTS, which Node reads at start-up.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startHub, runTestsAsChild } = require('./support/hub');

const DEVICE_ID = 'node-twin-dev';

if (!process.env.IOTHUB_INTEROP_CHILD) {
  test('device twins with azure-iothub and azure-iot-device-mqtt against iothubd', async () => {
    const hub = await startHub();
    try {
      runTestsAsChild(__filename, hub);
    } finally {
      assert.equal(await hub.stop(), 0, 'iothubd did not exit cleanly');
    }
  });
} else {
  const { Registry } = require('azure-iothub');
  const { Client } = require('azure-iot-device');
  const { Mqtt } = require('azure-iot-device-mqtt');
  let registry;
  let client;
  let deviceTwin;

  // Resolves with the next 'properties.desired' event whose $version is at least v.
  function desiredVersion(twin, v) {
    return new Promise((resolve) => {
      const onDesired = (delta) => {
        if (delta.$version >= v) {
          twin.removeListener('properties.desired', onDesired);
          resolve(delta);
        }
      };
      twin.on('properties.desired', onDesired);
    });
  }

  before(async () => {
    registry = Registry.fromConnectionString(process.env.HUB_OWNER_CS);
    const { responseBody: dev } = await registry.create({ deviceId: DEVICE_ID, status: 'enabled' });
    const key = dev.authentication.symmetricKey.primaryKey;
    client = Client.fromConnectionString(
      `HostName=localhost;DeviceId=${DEVICE_ID};SharedAccessKey=${key}`, Mqtt);
    await client.open();
  });

  after(async () => {
    if (client) await client.close();
  });

  test('Registry.getTwin of a new device', async () => {
    const { responseBody: twin } = await registry.getTwin(DEVICE_ID);
    assert.equal(twin.deviceId, DEVICE_ID);
    assert.equal(twin.etag, 'AAAAAAAAAAE=');
    assert.equal(twin.properties.desired.$version, 1);
    assert.equal(twin.properties.reported.$version, 1);
  });

  test('device getTwin and a reported update show up at the service', async () => {
    deviceTwin = await client.getTwin();
    assert.equal(deviceTwin.properties.desired.$version, 1);
    // The first listener subscribes to desired changes; that SUBSCRIBE goes out before the
    // reported update below, so the hub holds it once the update is answered.
    deviceTwin.on('properties.desired', () => {});
    await new Promise((resolve, reject) => {
      deviceTwin.properties.reported.update({ firmware: '1.2.3', battery: { level: 87 } },
        (err) => (err ? reject(err) : resolve()));
    });
    const { responseBody: twin } = await registry.getTwin(DEVICE_ID);
    assert.equal(twin.properties.reported.firmware, '1.2.3');
    assert.deepEqual(twin.properties.reported.battery, { level: 87 });
    assert.equal(twin.properties.reported.$version, 2);
    assert.ok(twin.properties.reported.$metadata.firmware.$lastUpdated);
  });

  test('a refused reported update fails at the device (errorCode in the body)', async () => {
    await assert.rejects(new Promise((resolve, reject) => {
      deviceTwin.properties.reported.update({ 'bad.key': 1 },
        (err) => (err ? reject(err) : resolve()));
    }));
    const { responseBody: twin } = await registry.getTwin(DEVICE_ID);
    assert.equal(twin.properties.reported.$version, 2);
  });

  test('Twin.update of desired reaches the device as properties.desired', async () => {
    const event = desiredVersion(deviceTwin, 2);
    const { responseBody: twin } = await registry.getTwin(DEVICE_ID);
    await twin.update({ tags: { room: 'b43' }, properties: { desired: { telemetryInterval: 30 } } });
    assert.equal(twin.properties.desired.telemetryInterval, 30);
    assert.deepEqual(twin.tags, { room: 'b43' });
    const delta = await event;
    assert.equal(delta.telemetryInterval, 30);
    assert.equal(delta.$version, 2);
    assert.equal(deviceTwin.properties.desired.telemetryInterval, 30);
  });

  test('Registry.updateTwin with the current etag, then a stale one', async () => {
    const { responseBody: before } = await registry.getTwin(DEVICE_ID);
    const event = desiredVersion(deviceTwin, 3);
    const { responseBody: after } = await registry.updateTwin(DEVICE_ID,
      { properties: { desired: { telemetryInterval: null, mode: 'eco' } } }, before.etag);
    assert.notEqual(after.etag, before.etag);
    assert.equal(after.properties.desired.mode, 'eco');
    assert.equal(after.properties.desired.telemetryInterval, undefined);
    const delta = await event;
    assert.equal(delta.mode, 'eco');
    assert.equal(deviceTwin.properties.desired.telemetryInterval, undefined);

    await assert.rejects(
      registry.updateTwin(DEVICE_ID, { properties: { desired: { mode: 'max' } } }, before.etag),
      (err) => err.constructor.name === 'InvalidEtagError');
    const { responseBody: now } = await registry.getTwin(DEVICE_ID);
    assert.equal(now.properties.desired.mode, 'eco');
    assert.equal(now.etag, after.etag);
  });

  test('a device that opens with setOptions({ modelId }) has it on its twin', async () => {
    const id = `${DEVICE_ID}-pnp`;
    const { responseBody: dev } = await registry.create({ deviceId: id, status: 'enabled' });
    const pnp = Client.fromConnectionString(
      `HostName=localhost;DeviceId=${id};SharedAccessKey=${dev.authentication.symmetricKey.primaryKey}`,
      Mqtt);
    await pnp.setOptions({ modelId: 'dtmi:com:example:Thermostat;1' });
    await pnp.open();
    try {
      // The hub records connection facts in the registry within about a second.
      let twin;
      for (let i = 0; i < 50; i++) {
        ({ responseBody: twin } = await registry.getTwin(id));
        if (twin.modelId) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(twin.modelId, 'dtmi:com:example:Thermostat;1');
      assert.equal(twin.etag, 'AAAAAAAAAAE=', 'recording the model id is not a twin change');
    } finally {
      await pnp.close();
    }
  });

  test('properties.reported in a service patch is refused', async () => {
    const { responseBody: twin } = await registry.getTwin(DEVICE_ID);
    await assert.rejects(
      registry.updateTwin(DEVICE_ID, { properties: { reported: { firmware: 'x' } } }, twin.etag),
      (err) => err.constructor.name === 'ArgumentError');
  });
}
