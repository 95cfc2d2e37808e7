// An ocpp-rpc station (strict mode; not on ocpp2.1, see ocpp.mjs) against the CSMS at ENDPOINT
// (its identity is appended).
//   node client.mjs ENDPOINT PROTOCOL session        the station's session (its calls, then on
//                                                     ocpp2.1 its SENDs, a Heartbeat after them);
//                                                     answers the CSMS's calls until its
//                                                     DataTransfer "bye"
//   node client.mjs ENDPOINT PROTOCOL raw FRAMES     sends each frame of the JSON object FRAMES
//                                                     (name -> text) as is, reports the replies
// Prints one JSON line: the report of ocpp.mjs (+ "replies" for raw).
import rpc from 'ocpp-rpc';
import { callAll, handleAll, observe, stationHandlers, stationSends, stationSession, strictMode } from './ocpp.mjs';

const [endpoint, protocol, scenario, frames] = process.argv.slice(2);
const client = new rpc.RPCClient({
  endpoint, identity: 'JS001', protocols: [protocol], strictMode: strictMode(protocol), reconnect: false, callTimeoutMs: 5000,
});
await client.connect();
const report = observe(client);

if (scenario === 'session') {
  const seen = handleAll(client, stationHandlers[protocol], report);
  const bye = seen('DataTransfer', (params) => params.messageId === 'bye');
  await callAll(client, stationSession[protocol], report.calls);
  for (const frame of stationSends[protocol] ?? []) client.sendRaw(frame);
  if (stationSends[protocol]) await callAll(client, [() => ['Heartbeat', {}]], report.calls); // after the SENDs
  await bye;
} else if (scenario === 'raw') {
  // After each frame a Heartbeat: what arrives before its result is the reply to that frame.
  const inbox = [];
  let fence;
  client.on('message', ({ message, outbound }) => outbound || inbox.push(String(message)));
  client.on('call', ({ outbound, payload }) => outbound && (fence = payload[1]));
  report.replies = {};
  for (const [name, frame] of Object.entries(JSON.parse(frames))) {
    const start = inbox.length;
    client.sendRaw(frame);
    await client.call('Heartbeat', {});
    report.replies[name] = inbox.slice(start).filter((reply) => JSON.parse(reply)[1] !== fence);
  }
} else {
  throw new Error(`unknown scenario ${scenario}`);
}
await client.close({ awaitPending: true });
console.log(JSON.stringify(report));
