// An ocpp-rpc CSMS (strict mode; not on ocpp2.1, see ocpp.mjs) on 127.0.0.1, for one station.
//   node server.mjs PROTOCOL session   answers the station and, once it booted, makes the calls
//                                      of ocpp.mjs (the last a DataTransfer "bye")
//   node server.mjs PROTOCOL answer    only answers
// Prints {"port": N} when listening, then, when the station has gone, the report of ocpp.mjs.
import { once } from 'node:events';
import rpc from 'ocpp-rpc';
import { callAll, csmsCalls, csmsHandlers, handleAll, observe, strictMode } from './ocpp.mjs';

const [protocol, scenario] = process.argv.slice(2);
const server = new rpc.RPCServer({ protocols: [protocol], strictMode: strictMode(protocol), callTimeoutMs: 5000 });

server.on('client', async (client) => {
  const report = observe(client);
  const seen = handleAll(client, csmsHandlers[protocol], report);
  let calls = Promise.resolve();
  if (scenario === 'session') {
    seen('BootNotification').then(() => (calls = callAll(client, csmsCalls[protocol], report.calls)));
  }
  await once(client, 'close');
  await calls;
  console.log(JSON.stringify(report));
  await server.close();
  process.exit(0);
});

const http = await server.listen(0, '127.0.0.1');
console.log(JSON.stringify({ port: http.address().port }));
