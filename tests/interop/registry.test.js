// Interop: the unmodified npm azure-iothub Registry against iothubd (HostName=localhost, the
// hub's CA trusted through NODE_EXTRA_CA_CERTS, which Node reads at start-up, so the test
// re-executes itself once with it set).
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startHub, runTestsAsChild } = require('./support/hub');

if (!process.env.IOTHUB_INTEROP_CHILD) {
  // Parent: start the hub, then run this file again with the CA trusted.
  test('azure-iothub Registry against iothubd', async () => {
    const hub = await startHub();
    try {
      runTestsAsChild(__filename, hub, {
        HUB_READ_CS: hub.policy('registryRead'),
      });
    } finally {
      assert.equal(await hub.stop(), 0, 'iothubd did not exit cleanly');
    }
  });
} else {
  const { Registry } = require('azure-iothub');
  let registry;
  let readOnly;
  before(() => {
    registry = Registry.fromConnectionString(process.env.HUB_OWNER_CS);
    readOnly = Registry.fromConnectionString(process.env.HUB_READ_CS);
  });

  test('create without keys: the hub generates two 32-byte keys', async () => {
    const { responseBody: dev } = await registry.create({ deviceId: 'node-dev-1', status: 'enabled' });
    assert.equal(dev.deviceId, 'node-dev-1');
    assert.equal(dev.status, 'enabled');
    assert.equal(dev.connectionState, 'Disconnected');
    for (const k of ['primaryKey', 'secondaryKey']) {
      assert.equal(Buffer.from(dev.authentication.symmetricKey[k], 'base64').length, 32);
    }
  });

  test('create with supplied keys, then get', async () => {
    const primaryKey = Buffer.alloc(32, 1).toString('base64');
    const secondaryKey = Buffer.alloc(32, 2).toString('base64');
    await registry.create({
      deviceId: 'node-dev-2',
      authentication: { symmetricKey: { primaryKey, secondaryKey } },
    });
    const { responseBody: dev } = await registry.get('node-dev-2');
    assert.deepEqual(dev.authentication.symmetricKey, { primaryKey, secondaryKey });
    assert.equal(dev.authentication.type, 'sas');
  });

  test('list', async () => {
    const { responseBody: devices } = await registry.list();
    assert.deepEqual(devices.map((d) => d.deviceId).sort(), ['node-dev-1', 'node-dev-2']);
  });

  test('update to disabled and back', async () => {
    const { responseBody: dev } = await registry.get('node-dev-1');
    dev.status = 'disabled';
    const { responseBody: upd } = await registry.update(dev);
    assert.equal(upd.status, 'disabled');
    assert.notEqual(upd.etag, dev.etag);
    assert.deepEqual(upd.authentication.symmetricKey, dev.authentication.symmetricKey);
    const { responseBody: got } = await registry.get('node-dev-1');
    assert.equal(got.status, 'disabled');
    const stats = await registry.getRegistryStatistics();
    assert.equal(stats.responseBody.disabledDeviceCount, 1);
  });

  test('get of a missing device: DeviceNotFoundError', async () => {
    await assert.rejects(registry.get('no-such-device'), (e) => {
      assert.equal(e.name, 'DeviceNotFoundError');
      assert.match(e.message, /no-such-device/);
      return true;
    });
  });

  test('create of an existing device: DeviceAlreadyExistsError', async () => {
    await assert.rejects(registry.create({ deviceId: 'node-dev-1' }), (e) => {
      assert.equal(e.name, 'DeviceAlreadyExistsError');
      return true;
    });
  });

  test('update with a stale etag: InvalidEtagError (412)', async () => {
    const { responseBody: dev } = await registry.get('node-dev-2');
    const stale = { ...dev, etag: 'c3RhbGU=' };
    // Registry.update always sends If-Match "*", so make the etag-checked PUT through the
    // SDK's own REST client, whose error translation turns a 412 into InvalidEtagError.
    const http = registry._restApiClient;
    await assert.rejects(
      new Promise((resolve, reject) => {
        http.executeApiCall('PUT', `/devices/${encodeURIComponent(stale.deviceId)}?api-version=2021-04-12`,
          { 'Content-Type': 'application/json; charset=utf-8', 'If-Match': `"${stale.etag}"` },
          { deviceId: stale.deviceId, status: 'disabled' },
          (err, result) => (err ? reject(err) : resolve(result)));
      }),
      (e) => {
        assert.equal(e.name, 'InvalidEtagError');
        return true;
      });
    const { responseBody: after } = await registry.get('node-dev-2');
    assert.equal(after.status, 'enabled', 'nothing changed');
  });

  test('a registryRead policy cannot write: UnauthorizedError', async () => {
    await assert.rejects(readOnly.create({ deviceId: 'not-allowed' }), (e) => {
      assert.equal(e.name, 'UnauthorizedError');
      return true;
    });
    const { responseBody: dev } = await readOnly.get('node-dev-1');
    assert.equal(dev.deviceId, 'node-dev-1');
    await assert.rejects(registry.get('not-allowed'), { name: 'DeviceNotFoundError' });
  });

  test('query SELECT * FROM devices', async () => {
    const query = registry.createQuery('SELECT * FROM devices', 1);
    const ids = [];
    while (query.hasMoreResults) {
      const { result } = await query.nextAsTwin();
      ids.push(...result.map((t) => t.deviceId));
    }
    assert.deepEqual(ids.sort(), ['node-dev-1', 'node-dev-2']);
  });

  test('delete, then 404', async () => {
    await registry.delete('node-dev-1');
    await assert.rejects(registry.get('node-dev-1'), { name: 'DeviceNotFoundError' });
    await registry.delete('node-dev-2');
    const { responseBody: devices } = await registry.list();
    assert.equal(devices.length, 0);
  });
}
