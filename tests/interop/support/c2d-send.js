// Cloud-to-device from the service side with the unmodified npm azure-iothub Client (AMQP):
// a helper for tests that are not written in JavaScript (tests/integration/test_14_c2d.py).
//
//   NODE_EXTRA_CA_CERTS=ca.pem IOTHUB_CONNECTION_STRING=... node c2d-send.js '<json>'
//
// The JSON command:
//   {"send": [{"deviceId": "d", "data": "text" | {"base64": "..."} | {"repeat": "x", "count": n},
//              "messageId": "...", "correlationId": "...", "userId": "...", "ack": "full",
//              "expiryTimeUtc": <ms since the epoch>, "contentType": "...",
//              "contentEncoding": "...", "properties": {"k": "v"}}, ...],
//    "feedback": {"count": n, "timeoutMs": t}}
// Sends in order (no retries), then, when asked, reads feedback until n records arrived or
// the time is up. Prints one JSON object on stdout:
//   {"results": [{"ok": true} | {"error": {"name", "message", "condition"}}, ...],
//    "feedback": [{"record": {...}, "contentType", "userId", "messageId"}, ...]}
'use strict';
const { Client } = require('azure-iothub');
const { Message, NoRetry } = require('azure-iot-common');

function makeData(d) {
  if (d === undefined || d === null) return '';
  if (typeof d === 'string') return d;
  if (d.base64 !== undefined) return Buffer.from(d.base64, 'base64');
  if (d.repeat !== undefined) return Buffer.alloc(d.count, d.repeat);
  throw new Error('bad data spec');
}

function makeMessage(spec) {
  const m = new Message(makeData(spec.data));
  for (const k of ['messageId', 'correlationId', 'userId', 'ack', 'contentType', 'contentEncoding']) {
    if (spec[k] !== undefined) m[k] = spec[k];
  }
  if (spec.expiryTimeUtc !== undefined) m.expiryTimeUtc = spec.expiryTimeUtc;
  for (const [k, v] of Object.entries(spec.properties || {})) m.properties.add(k, v);
  return m;
}

async function main() {
  const cmd = JSON.parse(process.argv[2] || '{}');
  const client = Client.fromConnectionString(process.env.IOTHUB_CONNECTION_STRING);
  client.setRetryPolicy(new NoRetry());
  await client.open();
  const out = { results: [], feedback: [] };
  for (const spec of cmd.send || []) {
    try {
      await client.send(spec.deviceId, makeMessage(spec));
      out.results.push({ ok: true });
    } catch (err) {
      out.results.push({
        error: {
          name: err.constructor ? err.constructor.name : err.name,
          message: String(err.message),
          condition: err.amqpError ? err.amqpError.condition : undefined,
        },
      });
    }
  }
  if (cmd.feedback) {
    const want = cmd.feedback.count || 1;
    const res = await client.getFeedbackReceiver();
    const receiver = res.result;
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, cmd.feedback.timeoutMs || 30000);
      receiver.on('message', (msg) => {
        const body = JSON.parse(msg.getData().toString());
        for (const record of body) {
          out.feedback.push({
            record,
            contentType: msg.contentType,
            // azure-iothub does not map user-id; the rhea message underneath has it.
            userId: msg.transportObj && msg.transportObj.user_id
              ? Buffer.from(msg.transportObj.user_id).toString() : undefined,
            messageId: msg.messageId,
            batch: body.length,
          });
        }
        if (out.feedback.length >= want) {
          clearTimeout(timer);
          resolve();
        }
      });
      receiver.on('errorReceived', (err) => {
        out.feedbackError = String(err && err.message);
      });
    });
  }
  await client.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  process.stderr.write(`c2d-send: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
