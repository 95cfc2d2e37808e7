// The ocpp-rpc CSMS of the load benchmark (benchmarks/load.py, row "ocpp-rpc"): strict mode, so
// ocpp-rpc validates every call it receives and every result it sends against the 2.0.1 schemas.
//   node load_csms.mjs PORT     listens on 127.0.0.1:PORT (0: any), prints {"port": N}
// It answers each action of the simulator's mix what DemoChargeSystem answers (fresh timestamps);
// SIGTERM or SIGINT stops it. Unlike the interop scenarios it keeps no report per station.
import rpc from 'ocpp-rpc';

const now = () => new Date().toISOString();
const accepted = { idTokenInfo: { status: 'Accepted' } };
const handlers = {
  BootNotification: () => ({ currentTime: now(), interval: 300, status: 'Accepted' }),
  Heartbeat: () => ({ currentTime: now() }),
  StatusNotification: () => ({}),
  Authorize: () => accepted,
  TransactionEvent: ({ params }) => (params.eventType === 'Started' ? accepted : {}),
  MeterValues: () => ({}),
  NotifyReport: () => ({}),
  SecurityEventNotification: () => ({}),
  DataTransfer: () => ({ status: 'Accepted' }),
};

const server = new rpc.RPCServer({ protocols: ['ocpp2.0.1'], strictMode: true });
server.on('client', (client) => {
  for (const [method, answer] of Object.entries(handlers)) client.handle(method, answer);
});
const http = await server.listen(Number(process.argv[2] ?? 0), '127.0.0.1');
console.log(JSON.stringify({ port: http.address().port }));

const stop = async () => {
  await server.close({ force: true });
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
