// An SMSC for tests, on the npm `smpp` package (node-smpp): an implementation nobody on
// this project wrote, scripted here to behave like a real SMSC, faults included.
//
//   node smsc.js '{"id_format": "hex", ...}'
//
// Prints one JSON line with its ports, then serves SMPP on one port and a JSON control API
// on another (both on 127.0.0.1). The config (all keys optional, changeable at run time
// with POST /config):
//
//   system_id, password        checked on bind when set
//   bind_status                answer binds with this command_status (0: accept)
//   submit_rules               [{"status": S, "count": N}]: the next N submits get S
//   every_nth                  {"n": N, "status": S}: every Nth submit gets S
//   default_status             status of other submits (0)
//   as_generic_nack            answer error statuses with generic_nack instead
//   delay_ms                   delay every submit_sm_resp
//   no_answer                  never answer submit_sm
//   drop_after                 destroy a session's socket when it sends its Nth submit
//   id_format                  hex | HEX | dec | hex0 (zero-padded to 10)
//   dr                         {"states": ["ACCEPTD", "DELIVRD"], "delay_ms": 50, "tlvs": true,
//                               "text": true, "id_format": "hex"|"dec", "date_digits": 10|12,
//                               "other_session": false}
//   redeliver                  {"delay_ms": 200, "max": 5, "timeout_ms": 5000}: redeliver a
//                               deliver_sm answered with an error, or not answered in time
//   tls                        {"key": path, "cert": path} (at start only)
//
// Control API: GET /received, GET /sessions, POST /config, POST /deliver (one deliver_sm:
// {"session": i | "all", "fields": {...}, "short_message_hex": "...", "tlvs": {...}}),
// POST /raw ({"session": i, "hex": "..."}: bytes as they are, e.g. a malformed PDU),
// POST /drop (destroy every session), POST /reset (forget what was received).
'use strict';

const smpp = require('smpp');
const http = require('http');
const fs = require('fs');

const config = Object.assign(
  {
    bind_status: 0, submit_rules: [], default_status: 0, delay_ms: 0, no_answer: false,
    drop_after: 0, id_format: 'hex', dr: null, redeliver: null, every_nth: null,
    as_generic_nack: false,
  },
  JSON.parse(process.argv[2] || '{}'),
);

const received = { submits: [], binds: [], deliver_resps: [], drops: 0, unbinds: 0, enquire_links: 0 };
const sessions = [];
let nextId = 0x3a2b1c00;
let submitCount = 0;
let sessionCount = 0;

const STATES = { ENROUTE: 1, DELIVRD: 2, EXPIRED: 3, DELETED: 4, UNDELIV: 5, ACCEPTD: 6, UNKNOWN: 7, REJECTD: 8 };

function formatId(n, format) {
  switch (format) {
    case 'dec': return String(n);
    case 'HEX': return n.toString(16).toUpperCase();
    case 'hex0': return n.toString(16).padStart(10, '0');
    default: return n.toString(16);
  }
}

function stamp(digits) {
  const d = new Date();
  const p = (v) => String(v).padStart(2, '0');
  const s = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}`;
  return digits === 12 ? s + p(d.getUTCSeconds()) : s;
}

function bufferHex(value) {
  if (Buffer.isBuffer(value)) return value.toString('hex');
  if (value && typeof value === 'object') {
    // node-smpp decodes short_message into {udh, message}: keep both readable.
    const udh = (value.udh || []).map((b) => Buffer.from(b).toString('hex')).join('');
    const message = Buffer.isBuffer(value.message) ? value.message.toString('hex') : value.message;
    return { udh, message };
  }
  return value;
}

function statusFor() {
  submitCount += 1;
  const rule = config.submit_rules.find((r) => r.count > 0);
  if (rule) {
    rule.count -= 1;
    return rule.status;
  }
  if (config.every_nth && submitCount % config.every_nth.n === 0) return config.every_nth.status;
  return config.default_status;
}

function live() {
  return sessions.filter((s) => s.bound && !s.closed);
}

// Deliver a deliver_sm; redeliver while the ESME answers with an error or not at all.
function deliver(session, options, attempt = 0) {
  if (!session || session.closed) return;
  const policy = config.redeliver;
  let answered = false;
  let timer = null;
  if (policy) {
    timer = setTimeout(() => {
      if (!answered && attempt < (policy.max || 5)) deliver(pick(session), options, attempt + 1);
    }, policy.timeout_ms || 5000);
  }
  const pdu = new smpp.PDU('deliver_sm', Object.assign({}, options));
  session.send(pdu, (resp) => {
    answered = true;
    if (timer) clearTimeout(timer);
    received.deliver_resps.push({ session: session.id, status: resp.command_status, attempt,
      receipted_message_id: options.receipted_message_id || null });
    if (resp.command_status !== 0 && policy && attempt < (policy.max || 5)) {
      setTimeout(() => deliver(pick(session), options, attempt + 1), policy.delay_ms || 200);
    }
  });
}

function pick(preferred) {
  if (preferred && !preferred.closed && preferred.bound) return preferred;
  return live()[0];
}

function sendReceipts(session, submit, messageId) {
  const dr = config.dr;
  if (!dr || !(submit.registered_delivery & 1)) return;
  const states = dr.states || ['DELIVRD'];
  states.forEach((state, i) => {
    setTimeout(() => {
      let target = session;
      if (dr.other_session) {
        const others = live().filter((s) => s !== session);
        if (others.length) target = others[i % others.length];
      }
      const drId = dr.id_format === 'dec' ? String(parseInt(messageId, 16)) : messageId;
      const date = stamp(dr.date_digits || 10);
      const options = {
        source_addr: submit.destination_addr,
        destination_addr: submit.source_addr,
        esm_class: state === 'ENROUTE' || state === 'ACCEPTD' ? 0x20 : 0x04,
      };
      if (dr.text !== false) {
        options.short_message = Buffer.from(
          `id:${drId} sub:001 dlvrd:${state === 'DELIVRD' ? '001' : '000'} submit date:${date} ` +
            `done date:${date} stat:${state} err:000 text:`,
          'ascii',
        );
      }
      if (dr.tlvs !== false) {
        options.receipted_message_id = drId;
        options.message_state = STATES[state];
      }
      deliver(target, options);
    }, (dr.delay_ms || 0) * (i + 1));
  });
}

function onSession(session) {
  session.id = sessionCount++;
  session.bound = false;
  session.closed = false;
  session.submits = 0;
  sessions.push(session);

  const onBind = (pdu) => {
    let status = config.bind_status;
    if (!status && config.system_id && pdu.system_id !== config.system_id) status = 0x0f;
    if (!status && config.password && pdu.password !== config.password) status = 0x0e;
    received.binds.push({ session: session.id, command: pdu.command, system_id: pdu.system_id, status });
    session.send(pdu.response({ command_status: status, system_id: 'nodesmsc' }));
    if (status) {
      setTimeout(() => session.close(), 50);
    } else {
      session.bound = true;
      session.system_id = pdu.system_id;
    }
  };
  session.on('bind_transceiver', onBind);
  session.on('bind_transmitter', onBind);
  session.on('bind_receiver', onBind);

  session.on('submit_sm', (pdu) => {
    session.submits += 1;
    if (config.drop_after && session.submits >= config.drop_after) {
      received.drops += 1;
      session.closed = true;
      session.destroy();
      return;
    }
    const status = statusFor();
    const messageId = status ? null : formatId(nextId++, config.id_format);
    const tlvs = {};
    for (const key of ['sar_msg_ref_num', 'sar_total_segments', 'sar_segment_seqnum', 'message_payload', 'user_message_reference']) {
      if (pdu[key] !== undefined) tlvs[key] = bufferHex(pdu[key]);
    }
    received.submits.push({
      session: session.id, system_id: session.system_id, seq: pdu.sequence_number,
      source_addr: pdu.source_addr, destination_addr: pdu.destination_addr,
      esm_class: pdu.esm_class, registered_delivery: pdu.registered_delivery,
      data_coding: pdu.data_coding, short_message: bufferHex(pdu.short_message), tlvs,
      message_id: messageId, status, t: Date.now(),
    });
    if (config.no_answer) return;
    const answer = () => {
      if (session.closed) return;
      if (status && config.as_generic_nack) {
        session.send(new smpp.PDU('generic_nack', { sequence_number: pdu.sequence_number, command_status: status }));
      } else {
        session.send(pdu.response(status ? { command_status: status } : { message_id: messageId }));
      }
      if (!status) sendReceipts(session, pdu, messageId);
    };
    if (config.delay_ms) setTimeout(answer, config.delay_ms); else answer();
  });

  session.on('enquire_link', (pdu) => {
    received.enquire_links += 1;
    session.send(pdu.response());
  });
  session.on('unbind', (pdu) => {
    received.unbinds += 1;
    session.send(pdu.response());
    session.closed = true;
    setTimeout(() => session.close(), 10);
  });
  session.on('close', () => { session.closed = true; });
  session.on('error', () => { session.closed = true; });
}

const server = config.tls
  ? smpp.createServer({ key: fs.readFileSync(config.tls.key), cert: fs.readFileSync(config.tls.cert) }, onSession)
  : smpp.createServer(onSession);

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function targets(which) {
  if (which === undefined || which === 'all') return live();
  const s = sessions[which];
  return s && !s.closed ? [s] : [];
}

const control = http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => {
    const data = body ? JSON.parse(body) : {};
    if (req.method === 'GET' && req.url === '/received') return json(res, 200, received);
    if (req.method === 'GET' && req.url === '/sessions') {
      return json(res, 200, sessions.map((s) => ({ id: s.id, bound: s.bound, closed: s.closed, system_id: s.system_id || null, submits: s.submits })));
    }
    if (req.method === 'POST' && req.url === '/config') {
      Object.assign(config, data);
      return json(res, 200, config);
    }
    if (req.method === 'POST' && req.url === '/deliver') {
      const options = Object.assign({}, data.fields || {});
      if (data.short_message_hex !== undefined) options.short_message = Buffer.from(data.short_message_hex, 'hex');
      if (data.message_payload_hex !== undefined) options.message_payload = Buffer.from(data.message_payload_hex, 'hex');
      const sent = targets(data.session);
      sent.forEach((s) => deliver(s, options));
      return json(res, 200, { sent: sent.map((s) => s.id) });
    }
    if (req.method === 'POST' && req.url === '/raw') {
      const sent = targets(data.session);
      sent.forEach((s) => s.socket.write(Buffer.from(data.hex, 'hex')));
      return json(res, 200, { sent: sent.map((s) => s.id) });
    }
    if (req.method === 'POST' && req.url === '/drop') {
      const dropped = live();
      dropped.forEach((s) => { s.closed = true; s.destroy(); });
      received.drops += dropped.length;
      return json(res, 200, { dropped: dropped.length });
    }
    if (req.method === 'POST' && req.url === '/reset') {
      received.submits = []; received.binds = []; received.deliver_resps = [];
      received.drops = 0; received.unbinds = 0; received.enquire_links = 0;
      return json(res, 200, {});
    }
    return json(res, 404, { error: `no ${req.method} ${req.url}` });
  });
});

server.listen(config.port || 0, '127.0.0.1', () => {
  control.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ smpp_port: server.address().port, control_port: control.address().port }) + '\n');
  });
});

// The test runner owns this process: stop with it.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
