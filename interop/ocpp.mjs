// What the ocpp-rpc station and CSMS of the interop scenarios send and answer, per subprotocol.
// Used by client.mjs (an ocpp-rpc station) and server.mjs (an ocpp-rpc CSMS); both run in strict
// mode, so ocpp-rpc checks every frame either side sends against the official schemas, but on
// ocpp2.1 (see strictMode below).
import rpc from 'ocpp-rpc';

const now = () => new Date().toISOString();

// ocpp-rpc 2.2.1's strict mode cannot load its own 2.1 schemas (it fails as the client or server is
// made), so the 2.1 scenarios run non-strict: ocpp-rpc checks none of their frames, and the Python
// side (whose decoder checks every frame against the 2.1 schemas) is what proves them valid.
export const strictMode = (protocol) => protocol !== 'ocpp2.1';

// A periodic event stream's samples, sent as an OCPP-J 2.1 SEND ([6, ...], never answered).
const STREAM = { id: 1, pending: 0, basetime: '2026-12-05T10:00:00Z', data: [{ t: 0, v: '7400.0' }, { t: 15, v: '7380.5' }] };
// The SENDs the station writes after its calls (ocpp-rpc sends no SEND of its own: raw frames).
export const stationSends = {
  'ocpp2.1': [JSON.stringify([6, 'js-send-1', 'NotifyPeriodicEventStream', STREAM])],
};
const TOKEN = { idToken: 'TAG-0001', type: 'ISO14443' };

// DataTransfer: vendor "GA" gets its string data back reversed, as the Python examples do.
function dataTransfer({ vendorId, data }) {
  if (vendorId !== 'GA') return { status: 'UnknownVendorId' };
  if (typeof data !== 'string') throw rpc.createRPCError('TypeConstraintViolation', 'GA data must be a string');
  return { status: 'Accepted', data: [...data].reverse().join('') };
}

// What the station sends, in order; a step may use the results so far (by action).
export const stationSession = {
  'ocpp2.0.1': [
    () => ['BootNotification', { reason: 'PowerUp', chargingStation: { model: 'InteropJS', vendorName: 'ocpp-rpc' } }],
    () => ['StatusNotification', { timestamp: now(), connectorStatus: 'Available', evseId: 1, connectorId: 1 }],
    () => ['Authorize', { idToken: TOKEN }],
    () => ['TransactionEvent', {
      eventType: 'Started', timestamp: now(), triggerReason: 'Authorized', seqNo: 0,
      transactionInfo: { transactionId: 'TX-1' }, idToken: TOKEN, evse: { id: 1, connectorId: 1 },
    }],
    () => ['TransactionEvent', {
      eventType: 'Updated', timestamp: now(), triggerReason: 'MeterValuePeriodic', seqNo: 1,
      transactionInfo: { transactionId: 'TX-1', chargingState: 'Charging' },
      meterValue: [{
        timestamp: now(),
        sampledValue: [{ value: 1234.5, measurand: 'Energy.Active.Import.Register', unitOfMeasure: { unit: 'Wh' } }],
      }],
    }],
    () => ['TransactionEvent', {
      eventType: 'Ended', timestamp: now(), triggerReason: 'StopAuthorized', seqNo: 2,
      transactionInfo: { transactionId: 'TX-1', stoppedReason: 'Local' },
    }],
    () => ['Heartbeat', {}],
    () => ['DataTransfer', { vendorId: 'GA', data: 'hello' }],
    () => ['FirmwareStatusNotification', { status: 'Installed' }], // a CSMS may leave it unhandled
  ],
  'ocpp1.6': [
    () => ['BootNotification', { chargePointVendor: 'ocpp-rpc', chargePointModel: 'InteropJS' }],
    () => ['StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available', timestamp: now() }],
    () => ['Authorize', { idTag: 'TAG-0001' }],
    () => ['StartTransaction', { connectorId: 1, idTag: 'TAG-0001', meterStart: 0, timestamp: now() }],
    (r) => ['MeterValues', {
      connectorId: 1, transactionId: r.StartTransaction.transactionId,
      meterValue: [{
        timestamp: now(),
        sampledValue: [{ value: '1234.5', measurand: 'Energy.Active.Import.Register', unit: 'Wh' }],
      }],
    }],
    (r) => ['StopTransaction', {
      transactionId: r.StartTransaction.transactionId, meterStop: 2000, timestamp: now(), reason: 'Local',
    }],
    () => ['Heartbeat', {}],
    () => ['DataTransfer', { vendorId: 'GA', data: 'hello' }],
    () => ['DiagnosticsStatusNotification', { status: 'Idle' }], // a CSMS may leave it unhandled
  ],
  'ocpp2.1': [
    () => ['BootNotification', { reason: 'PowerUp', chargingStation: { model: 'InteropJS', vendorName: 'ocpp-rpc' } }],
    () => ['Heartbeat', {}],
    () => ['OpenPeriodicEventStream', {
      constantStreamData: { id: 1, params: { interval: 15, values: 2 }, variableMonitoringId: 7 },
    }],
    () => ['ClosePeriodicEventStream', { id: 1 }],
    () => ['DataTransfer', { vendorId: 'GA', data: 'hello' }],
  ],
};

// What the CSMS sends to the station once it has booted; the DataTransfer "bye" comes last.
export const csmsCalls = {
  'ocpp2.0.1': [
    () => ['RequestStartTransaction', { idToken: TOKEN, remoteStartId: 7, evseId: 1 }],
    () => ['GetVariables', { getVariableData: [{ component: { name: 'OCPPCommCtrlr' }, variable: { name: 'HeartbeatInterval' } }] }],
    () => ['ChangeAvailability', { operationalStatus: 'Inoperative' }],
    () => ['UnlockConnector', { evseId: 1, connectorId: 1 }],
    () => ['Reset', { type: 'Immediate' }], // a station may leave it unhandled
    () => ['DataTransfer', { vendorId: 'GA', data: 'abc' }],
    () => ['DataTransfer', { vendorId: 'GA', messageId: 'bye', data: 'bye' }],
  ],
  'ocpp1.6': [
    () => ['RemoteStartTransaction', { idTag: 'TAG-0001', connectorId: 1 }],
    () => ['GetConfiguration', { key: ['HeartbeatInterval'] }],
    () => ['ChangeAvailability', { connectorId: 1, type: 'Inoperative' }],
    () => ['UnlockConnector', { connectorId: 1 }],
    () => ['Reset', { type: 'Soft' }], // a station may leave it unhandled
    () => ['DataTransfer', { vendorId: 'GA', data: 'abc' }],
    () => ['DataTransfer', { vendorId: 'GA', messageId: 'bye', data: 'bye' }],
  ],
  'ocpp2.1': [
    () => ['GetTariffs', { evseId: 1 }], // 2.1's own
    () => ['GetVariables', { getVariableData: [{ component: { name: 'OCPPCommCtrlr' }, variable: { name: 'HeartbeatInterval' } }] }],
    () => ['DataTransfer', { vendorId: 'GA', messageId: 'bye', data: 'bye' }],
  ],
};

// How the ocpp-rpc CSMS answers (it has no handler for the other actions: NotImplemented).
export const csmsHandlers = {
  'ocpp2.0.1': {
    BootNotification: () => ({ currentTime: now(), interval: 300, status: 'Accepted' }),
    StatusNotification: () => ({}),
    Authorize: () => ({ idTokenInfo: { status: 'Accepted' } }),
    TransactionEvent: ({ eventType }) => (eventType === 'Started' ? { idTokenInfo: { status: 'Accepted' } } : {}),
    MeterValues: () => ({}),
    Heartbeat: () => ({ currentTime: now() }),
    DataTransfer: dataTransfer,
  },
  'ocpp1.6': {
    BootNotification: () => ({ currentTime: now(), interval: 300, status: 'Accepted' }),
    StatusNotification: () => ({}),
    Authorize: () => ({ idTagInfo: { status: 'Accepted' } }),
    StartTransaction: () => ({ idTagInfo: { status: 'Accepted' }, transactionId: 4242 }),
    MeterValues: () => ({}),
    StopTransaction: () => ({ idTagInfo: { status: 'Accepted' } }),
    Heartbeat: () => ({ currentTime: now() }),
    DataTransfer: dataTransfer,
  },
  'ocpp2.1': {
    BootNotification: () => ({ currentTime: now(), interval: 300, status: 'Accepted' }),
    Heartbeat: () => ({ currentTime: now() }),
    OpenPeriodicEventStream: () => ({ status: 'Accepted' }),
    ClosePeriodicEventStream: () => ({}),
    DataTransfer: dataTransfer,
  },
};

// How the ocpp-rpc station answers.
export const stationHandlers = {
  'ocpp2.0.1': {
    RequestStartTransaction: () => ({ status: 'Accepted' }),
    GetVariables: ({ getVariableData }) => ({
      getVariableResult: getVariableData.map(({ component, variable }) => ({
        attributeStatus: 'Accepted', component, variable, attributeValue: '42',
      })),
    }),
    ChangeAvailability: () => ({ status: 'Accepted' }),
    UnlockConnector: () => ({ status: 'Unlocked' }),
    DataTransfer: dataTransfer,
  },
  'ocpp1.6': {
    RemoteStartTransaction: () => ({ status: 'Accepted' }),
    GetConfiguration: ({ key }) => ({ configurationKey: key.map((k) => ({ key: k, readonly: true, value: '42' })) }),
    ChangeAvailability: () => ({ status: 'Accepted' }),
    UnlockConnector: () => ({ status: 'Unlocked' }),
    DataTransfer: dataTransfer,
  },
  'ocpp2.1': {
    GetTariffs: () => ({ status: 'NoTariff' }),
    GetVariables: ({ getVariableData }) => ({
      getVariableResult: getVariableData.map(({ component, variable }) => ({
        attributeStatus: 'Accepted', component, variable, attributeValue: '42',
      })),
    }),
    DataTransfer: dataTransfer,
  },
};

// The report printed at the end: calls made and their outcome, calls handled, and every frame
// ocpp-rpc found invalid (strict mode) or malformed, whichever side sent it.
export function observe(client) {
  const report = { protocol: client.protocol, calls: [], handled: [], strictFailures: [], badMessages: [] };
  client.on('strictValidationFailure', ({ method, outbound, isCall, error }) =>
    report.strictFailures.push({ method, outbound, isCall, code: error.rpcErrorCode, message: error.message }));
  client.on('badMessage', ({ buffer, error, response }) =>
    report.badMessages.push({ message: String(buffer), error: error.message, response }));
  return report;
}

// Register the handlers; returns `seen(method, test)`, a promise of such a call having been answered.
export function handleAll(client, handlers, report) {
  const waiters = [];
  for (const [method, answer] of Object.entries(handlers)) {
    client.handle(method, ({ params }) => {
      report.handled.push({ method, params });
      setImmediate(() => waiters.filter((w) => w.method === method && w.test(params)).forEach((w) => w.resolve()));
      return answer(params);
    });
  }
  return (method, test = () => true) => new Promise((resolve) => waiters.push({ method, test, resolve }));
}

// Make the calls one after the other, recording each result or error code.
export async function callAll(client, steps, calls) {
  const results = {};
  for (const step of steps) {
    const [method, params] = step(results);
    try {
      results[method] = await client.call(method, params);
      calls.push({ method, result: results[method] });
    } catch (error) {
      calls.push({ method, error: error.rpcErrorCode ?? error.name, message: error.message });
    }
  }
}
