// Interop: direct methods between the unmodified npm SDKs through iothubd (spec 2.9, 3.6).
// azure-iothub's Client.invokeDeviceMethod calls POST /twins/{id}/methods; an
// azure-iot-device client over azure-iot-device-mqtt answers from onDeviceMethod. The parent
// starts the hub and re-runs this file with the hub's CA trusted (NODE_EXTRA_CA_CERTS is
// read at start-up), then checks that the hub stopped cleanly.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startHub, runTestsAsChild } = require('./support/hub');

const DEVICE_ID = 'node-methods-dev';
const OFFLINE_ID = 'node-methods-offline';

if (!process.env.IOTHUB_INTEROP_CHILD) {
  test('azure-iothub invokes methods on an azure-iot-device-mqtt client', async () => {
    const hub = await startHub();
    let stopped = false;
    try {
      runTestsAsChild(__filename, hub);
      stopped = true;
      assert.equal(await hub.stop(), 0, 'iothubd did not exit cleanly');
    } finally {
      if (!stopped) await hub.stop();
    }
  });
} else {
  const { Registry, Client: ServiceClient } = require('azure-iothub');
  const { Client } = require('azure-iot-device');
  const { Mqtt } = require('azure-iot-device-mqtt');
  let registry;
  let service;
  let device;
  const seen = [];

  before(async () => {
    registry = Registry.fromConnectionString(process.env.HUB_OWNER_CS);
    service = ServiceClient.fromConnectionString(process.env.HUB_OWNER_CS);
    const { responseBody: dev } = await registry.create({ deviceId: DEVICE_ID });
    await registry.create({ deviceId: OFFLINE_ID });
    const key = dev.authentication.symmetricKey.primaryKey;
    device = Client.fromConnectionString(
      `HostName=localhost;DeviceId=${DEVICE_ID};SharedAccessKey=${key}`, Mqtt);
    await device.open();
    device.onDeviceMethod('reboot', (request, response) => {
      seen.push({ name: request.methodName, payload: request.payload });
      response.send(207, { rebooting: true, echoed: request.payload }, () => {});
    });
    device.onDeviceMethod('nothing', (request, response) => {
      seen.push({ name: request.methodName, payload: request.payload });
      response.send(200, () => {}); // no payload: an empty body
    });
  });

  after(async () => {
    if (device) await device.close();
  });

  test('invokeDeviceMethod round trip with a payload and a custom status', async () => {
    // onDeviceMethod subscribes in the background; the connect timeout lets the hub wait
    // for that subscription instead of answering DeviceNotOnline.
    const { result, message } = await service.invokeDeviceMethod(DEVICE_ID, {
      methodName: 'reboot',
      payload: { delay: 5, why: 'interop' },
      responseTimeoutInSeconds: 15,
      connectTimeoutInSeconds: 10,
    });
    assert.equal(message.statusCode, 200);
    assert.deepEqual(result, {
      status: 207,
      payload: { rebooting: true, echoed: { delay: 5, why: 'interop' } },
    });
    assert.deepEqual(seen.at(-1), { name: 'reboot', payload: { delay: 5, why: 'interop' } });
  });

  test('a null payload reaches the device as null, not as an empty body', async () => {
    // Node devices answer 400 "Invalid request format" by themselves to an empty payload.
    const { result } = await service.invokeDeviceMethod(DEVICE_ID, {
      methodName: 'nothing',
      responseTimeoutInSeconds: 15,
    });
    assert.deepEqual(result, { status: 200, payload: null });
    assert.deepEqual(seen.at(-1), { name: 'nothing', payload: null });
  });

  test('an offline device gives the SDK its 404 error', async () => {
    await assert.rejects(
      service.invokeDeviceMethod(OFFLINE_ID, { methodName: 'reboot', responseTimeoutInSeconds: 5 }),
      (err) => {
        assert.equal(err.response.statusCode, 404);
        assert.equal(err.response.headers['iothub-errorcode'], 'DeviceNotOnline');
        assert.match(err.responseBody, /ErrorCode:DeviceNotOnline;/);
        return true;
      });
  });

  test('an unknown device is DeviceNotFoundError', async () => {
    await assert.rejects(
      service.invokeDeviceMethod('nobody-here', { methodName: 'reboot' }),
      (err) => err.constructor.name === 'DeviceNotFoundError' && err.response.statusCode === 404);
  });
}
