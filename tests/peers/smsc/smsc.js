// An SMSC for tests, on the npm `smpp` package (node-smpp 0.5.1): an SMPP implementation
// nobody on this project wrote, scripted here to behave like a real SMSC, faults included.
//
//   node smsc.js '{"id_format": "hex", "dr": {"states": ["DELIVRD"]}}'
//
// Prints one JSON line ({"smpp_port", "control_port", "tls", "pid"}) and nothing else on
// stdout, then serves SMPP on one loopback port and a JSON control API on another.
//
// Config (all keys optional; POST /config merges changes at run time):
//   port                       SMPP port (0: a free one)
//   system_id, password        checked on bind when set (ESME_RINVSYSID / ESME_RINVPASWD)
//   bind_status                answer every bind with this command_status (0: accept)
//   bind_rules                 [{"status": S, "count": N}]: the next N binds get S
//   default_status             status of a submit no rule picks (0; 0x58 throttles all)
//   submit_rules               [{"status": S, "count": N}]: the next N submits get S
//   every_nth                  {"n": N, "status": S}: every Nth submit (peer-wide) gets S
//   as_generic_nack            answer error statuses with generic_nack, not submit_sm_resp
//   unsupported_as_resp        answer commands this SMSC does not support (query_sm,
//                              submit_multi, cancel_sm, replace_sm, data_sm, ...) with their
//                              own _resp and ESME_RINVCMDID instead of generic_nack
//   delay_ms                   delay every submit_sm_resp by this much
//   no_answer                  never answer submit_sm
//   drop_after                 destroy a session's socket on its Nth submit (unanswered)
//   drop_hold                  ... and leave the K submits before it unanswered too
//   drop_times                 drop at most this many times (0: every session that gets there)
//   id_format                  hex | HEX | dec, or with a trailing 0 (hex0, HEX0, dec0):
//                              zero-padded to id_width (default 10)
//   id_start                   first message id (a number; ids are unique in this peer)
//   dr                         receipts for submits asking for one (registered_delivery):
//                              {"states": ["ACCEPTD", "DELIVRD"], "delay_ms": 50,
//                               "tlvs": true, "text": true, "id_format": "same"|"hex"|"dec"|...,
//                               "date_digits": 10|12, "other_session": false, "session": id,
//                               "before_resp": false, "err": "000", "esm_class": 4,
//                               "network_error_code": "030001" (hex)}
//                              session: always on that session (when it can receive);
//                              other_session: on another receiver bind than the submit's;
//                              before_resp: the first receipt is written before the
//                              submit_sm_resp (the race gateways get wrong)
//   redeliver                  {"delay_ms": 200, "max": 3, "timeout_ms": 0, "permanent": [0x65]}:
//                              a deliver_sm answered with an error, not answered within
//                              timeout_ms (0: no timeout) or cut off by a closed session is
//                              sent again after delay_ms, at most max more times
//   ignore_enquire_link        never answer enquire_link (a hung SMSC)
//   tls                        {"key": path, "cert": path} (or "key_pem"/"cert_pem" strings):
//                              serve SMPP over TLS only (at start only)
//   record                     false: keep counts only (for benchmarks), not every submit
//
// Control API (JSON): GET /received, GET /submits, GET /stats, GET /sessions, GET /config,
// POST /config, POST /deliver, POST /dr, POST /raw, POST /malformed, POST /drop,
// POST /unbind, POST /reset. Each is described at its handler in `routes` below.
'use strict';

const smpp = require('smpp');
const http = require('http');
const fs = require('fs');

// node-smpp decodes short_message and message_payload into {udh, message} text by guessing
// from data_coding (and turns unknown octets into spaces). Tests compare exact octets, so
// keep them as the raw Buffers on the wire. Encoding is unaffected: Buffers pass through.
for (const command of ['submit_sm', 'deliver_sm']) {
  delete smpp.commands[command].params.short_message.filter;
}
delete smpp.tlvs.message_payload.filter;

const ERR = {
  ESME_RINVCMDID: 0x03, ESME_RINVBNDSTS: 0x04, ESME_RALYBND: 0x05, ESME_RINVPASWD: 0x0e, ESME_RINVSYSID: 0x0f,
  ESME_RX_P_APPN: 0x65,
};
const STATES = {
  ENROUTE: 1, DELIVRD: 2, EXPIRED: 3, DELETED: 4, UNDELIV: 5, ACCEPTD: 6, UNKNOWN: 7, REJECTD: 8,
};
const FAILED_STATES = new Set(['EXPIRED', 'DELETED', 'UNDELIV', 'REJECTD', 'UNKNOWN']);
const BIND_KINDS = {
  bind_transmitter: 'transmitter', bind_receiver: 'receiver', bind_transceiver: 'transceiver',
};
const HANDLED = new Set([...Object.keys(BIND_KINDS), 'submit_sm', 'enquire_link', 'unbind']);

const config = Object.assign(
  {
    port: 0, system_id: null, password: null, bind_status: 0, bind_rules: [],
    default_status: 0, submit_rules: [], every_nth: null, as_generic_nack: false,
    unsupported_as_resp: false,
    delay_ms: 0, no_answer: false, drop_after: 0, drop_hold: 0, drop_times: 0,
    id_format: 'hex', id_width: 10, id_start: 0x3a2b1c00, dr: null, redeliver: null,
    ignore_enquire_link: false, tls: null, record: true,
  },
  JSON.parse(process.argv[2] || '{}'),
);

let received;
function resetRecords() {
  received = {
    submits: [], // one entry per submit_sm, in arrival order
    submit_count: 0,
    answered_count: 0,
    binds: [], // {session, command, system_id, status}
    unbinds: [], // {session, by: "client" | "smsc"}
    enquire_links: 0,
    delivers: [], // every deliver_sm sent (MOs, DRs, redeliveries)
    deliver_resps: [], // {delivery, session, attempt, status (null: none), timeout?, closed?}
    drops: [], // {session, reason, submits}: connections this peer cut
    disconnects: [], // {session, reason}: every connection that ended, whoever ended it
    errors: [], // {session, message}: what node-smpp could not parse, socket errors
    unknown: [], // {session, command_id, command}: requests this SMSC does not serve
    generic_nacks: [], // {session, status, seq}: generic_nacks the client sent
    malformed_sent: [], // {session, kind}
  };
}
resetRecords();

const sessions = [];
const pending = []; // deliveries waiting for a receiver-capable bind
let nextId = config.id_start;
let deliveryCount = 0;
let dropAfterCount = 0; // drops made by drop_after, for drop_times

function formatId(n, format) {
  const base = (format || 'hex').replace(/0$/, '');
  let text = base === 'dec' ? String(n) : n.toString(16);
  if (base === 'HEX') text = text.toUpperCase();
  if (format && format.endsWith('0')) text = text.padStart(config.id_width || 10, '0');
  return text;
}

function stamp(date, digits) {
  const p = (v) => String(v).padStart(2, '0');
  const s = p(date.getUTCFullYear() % 100) + p(date.getUTCMonth() + 1) + p(date.getUTCDate()) +
    p(date.getUTCHours()) + p(date.getUTCMinutes());
  return digits === 12 ? s + p(date.getUTCSeconds()) : s;
}

function takeRule(rules) {
  const rule = (rules || []).find((r) => r.count > 0);
  if (!rule) return undefined;
  rule.count -= 1;
  return rule.status;
}

function submitStatus() {
  const ruled = takeRule(config.submit_rules);
  if (ruled !== undefined) return ruled;
  const nth = config.every_nth;
  if (nth && nth.n && received.submit_count % nth.n === 0) return nth.status;
  return config.default_status || 0;
}

// The optional parameters node-smpp parsed, keyed by name (unknown tags as "0x1234").
function tlvsOf(pdu, params) {
  const out = {};
  for (const key in pdu) {
    if (key in params || key.startsWith('_')) continue;
    let name = key;
    if (/^\d+$/.test(key)) name = '0x' + Number(key).toString(16).padStart(4, '0');
    else if (!(key in smpp.tlvs)) continue;
    const value = pdu[key];
    out[name] = Buffer.isBuffer(value) ? value.toString('hex')
      : Array.isArray(value) ? value.map((v) => (Buffer.isBuffer(v) ? v.toString('hex') : v))
        : value;
  }
  return out;
}

const canReceive = (s) => s.bind === 'receiver' || s.bind === 'transceiver';
const canTransmit = (s) => s.bind === 'transmitter' || s.bind === 'transceiver';
const live = () => sessions.filter((s) => s.bind && !s.closed);
const receivers = () => live().filter(canReceive);

// Recorded when this peer decides to end the connection, not when the socket reports
// 'close' (that waits for the client's side of a graceful end).
function closeSession(session, reason, hard) {
  if (session.closed) return;
  session.closed = true;
  session.closeReason = reason;
  received.disconnects.push({ session: session.id, reason });
  if (hard) {
    session.destroy();
  } else {
    session.close(); // FIN after what is queued; destroy if the client never closes its side
    setTimeout(() => session.destroy(), 1000).unref();
  }
}

function drop(session, reason) {
  if (session.closed) return false;
  received.drops.push({ session: session.id, reason, submits: session.submits });
  closeSession(session, reason, true);
  return true;
}

// ---- deliver_sm: MOs and receipts, with redelivery -------------------------------------

function newDelivery(kind, options, prefer) {
  return { id: deliveryCount++, kind, options, prefer, attempt: 0, extra: options._extra };
}

// Send now on the preferred session (if it can receive) or any receiver; queue otherwise,
// as an SMSC stores what it cannot deliver until the ESME binds again.
function dispatch(delivery) {
  let target = sessions[delivery.prefer];
  if (!target || target.closed || !canReceive(target)) target = receivers()[0];
  if (!target) {
    pending.push(delivery);
    return null;
  }
  sendDelivery(target, delivery);
  return target.id;
}

function sendDelivery(session, delivery) {
  delivery.attempt += 1;
  const options = Object.assign({}, delivery.options);
  delete options._extra;
  const pdu = new smpp.PDU('deliver_sm', options);
  if (delivery.extra) {
    // Raw TLVs (any tag, any bytes): node-smpp only writes the TLVs it knows by name.
    const extra = delivery.extra;
    pdu.toBuffer = function toBuffer() {
      const out = Buffer.concat([smpp.PDU.prototype.toBuffer.call(this), extra]);
      out.writeUInt32BE(out.length, 0);
      return out;
    };
  }
  const attempt = delivery.attempt;
  let timer = null;
  let settled = false;
  const settle = (entry) => {
    if (settled) return false;
    settled = true;
    if (timer) clearTimeout(timer);
    session.outstanding.delete(delivery.id);
    received.deliver_resps.push(Object.assign(
      { delivery: delivery.id, kind: delivery.kind, session: session.id, attempt }, entry,
    ));
    return true;
  };
  const policy = config.redeliver;
  if (policy && policy.timeout_ms) {
    timer = setTimeout(() => {
      delete session._callbacks[pdu.sequence_number]; // a late resp must not count twice
      if (settle({ status: null, timeout: true })) redeliver(delivery, null);
    }, policy.timeout_ms);
  }
  session.outstanding.set(delivery.id, () => {
    if (settle({ status: null, closed: true })) redeliver(delivery, null);
  });
  const sent = session.send(pdu, (resp) => {
    if (settle({ status: resp.command_status }) && resp.command_status !== 0) {
      redeliver(delivery, resp.command_status);
    }
  });
  received.delivers.push({
    delivery: delivery.id, kind: delivery.kind, session: session.id, attempt,
    seq: pdu.sequence_number, source_addr: options.source_addr,
    destination_addr: options.destination_addr, esm_class: pdu.esm_class || 0,
    data_coding: pdu.data_coding || 0,
    short_message: Buffer.isBuffer(options.short_message) ? options.short_message.toString('hex') : '',
    receipted_message_id: options.receipted_message_id || null,
  });
  if (!sent) session.outstanding.get(delivery.id)();
}

function redeliver(delivery, status) {
  const policy = config.redeliver;
  if (!policy) return;
  const permanent = policy.permanent || [ERR.ESME_RX_P_APPN];
  if (status !== null && permanent.includes(status)) return;
  if (delivery.attempt > (policy.max === undefined ? 3 : policy.max)) return;
  setTimeout(() => dispatch(delivery), policy.delay_ms === undefined ? 200 : policy.delay_ms);
}

function flushPending() {
  const waiting = pending.splice(0);
  waiting.forEach(dispatch);
}

// deliver_sm options from a control request: node-smpp fields by name plus conveniences.
function deliverOptions(body) {
  const options = Object.assign({}, body.fields || {});
  const dataCoding = options.data_coding || 0;
  let message = null;
  if (body.short_message_hex !== undefined) message = Buffer.from(body.short_message_hex, 'hex');
  else if (body.text !== undefined) message = encodeText(body.text, dataCoding);
  let udh = body.udh_hex !== undefined ? Buffer.from(body.udh_hex, 'hex') : null;
  if (body.udh) {
    const { ref, total, seq } = body.udh;
    udh = body.udh.ref_bits === 16
      ? Buffer.from([6, 0x08, 4, (ref >> 8) & 0xff, ref & 0xff, total, seq])
      : Buffer.from([5, 0x00, 3, ref & 0xff, total, seq]);
  }
  if (udh) {
    message = Buffer.concat([udh, message || Buffer.alloc(0)]);
    options.esm_class = (options.esm_class || 0) | 0x40;
  }
  if (message) options.short_message = message;
  if (body.sar) {
    options.sar_msg_ref_num = body.sar.ref;
    options.sar_total_segments = body.sar.total;
    options.sar_segment_seqnum = body.sar.seq;
  }
  if (body.message_payload_hex !== undefined) {
    options.message_payload = Buffer.from(body.message_payload_hex, 'hex');
  }
  if (body.tlvs_hex) {
    const parts = Object.entries(body.tlvs_hex).map(([tag, hex]) => {
      const value = Buffer.from(hex, 'hex');
      const head = Buffer.alloc(4);
      head.writeUInt16BE(Number(tag), 0);
      head.writeUInt16BE(value.length, 2);
      return Buffer.concat([head, value]);
    });
    options._extra = Buffer.concat(parts);
  }
  return options;
}

function encodeText(text, dataCoding) {
  switch (dataCoding & 0x0f) {
    case 8: return Buffer.from(text, 'utf16le').swap16();
    case 1: return Buffer.from(text, 'ascii');
    case 3: return Buffer.from(text, 'latin1');
    case 0: return smpp.gsmCoder.encode(text, 0); // GSM 03.38, one septet an octet
    default: return Buffer.from(text, 'utf8');
  }
}

// A receipt's deliver_sm: the standard text and/or the receipted_message_id/message_state TLVs.
function receiptOptions(r) {
  const state = r.state || 'DELIVRD';
  const digits = r.date_digits || 10;
  const submitted = r.submit_date || stamp(r.submitted_at || new Date(), digits);
  const done = r.done_date || stamp(new Date(), digits);
  const options = {
    source_addr: r.source_addr || '', destination_addr: r.destination_addr || '',
    esm_class: r.esm_class === undefined ? 0x04 : r.esm_class,
  };
  if (r.text !== false) {
    const dlvrd = state === 'DELIVRD' ? '001' : '000';
    const body = typeof r.text === 'string' ? r.text
      : `id:${r.message_id} sub:001 dlvrd:${dlvrd} submit date:${submitted} ` +
        `done date:${done} stat:${state} err:${r.err || '000'} text:${r.excerpt || ''}`;
    options.short_message = Buffer.from(body, 'latin1');
  }
  if (r.tlvs !== false) {
    options.receipted_message_id = r.message_id;
    options.message_state = STATES[state] || 0;
    if (r.network_error_code) options.network_error_code = Buffer.from(r.network_error_code, 'hex');
  }
  return options;
}

// Receipts for an accepted submit, each after dr.delay_ms more; with `now` the first one is
// dispatched synchronously (for before_resp).
function scheduleReceipts(session, pdu, n, now) {
  const dr = config.dr;
  const wanted = pdu.registered_delivery & 0x03; // 1: always, 2: on failure only
  if (!dr || !wanted) return;
  const submittedAt = new Date();
  let excerpt = '';
  if (Buffer.isBuffer(pdu.short_message) && [0, 1, 3].includes(pdu.data_coding)) {
    const body = pdu.esm_class & 0x40 ? pdu.short_message.subarray(pdu.short_message[0] + 1)
      : pdu.short_message;
    excerpt = body.subarray(0, 20).toString('latin1');
  }
  const states = (dr.states || ['DELIVRD']).filter((s) => wanted !== 2 || FAILED_STATES.has(s));
  states.forEach((state, i) => {
    const send = () => {
      let prefer = session.id;
      if (dr.session !== undefined && dr.session !== null) {
        prefer = dr.session;
      } else if (dr.other_session) {
        // Another receiver-capable bind, the same account first (as a multi-bind SMSC does).
        const others = receivers().filter((s) => s !== session);
        const same = others.filter((s) => s.system_id === session.system_id);
        const pool = same.length ? same : others;
        if (pool.length) prefer = pool[i % pool.length].id;
      }
      const fmt = dr.id_format && dr.id_format !== 'same' ? dr.id_format : config.id_format;
      const options = receiptOptions({
        state, message_id: formatId(n, fmt), date_digits: dr.date_digits, submitted_at: submittedAt,
        text: dr.text, tlvs: dr.tlvs, err: FAILED_STATES.has(state) ? dr.err : '000',
        esm_class: dr.esm_class, network_error_code: dr.network_error_code, excerpt,
        source_addr: pdu.destination_addr, destination_addr: pdu.source_addr,
      });
      dispatch(newDelivery('dr', options, prefer));
    };
    if (now && i === 0) send();
    else setTimeout(send, (dr.delay_ms || 0) * (now ? i : i + 1));
  });
}

// ---- SMPP sessions ------------------------------------------------------------------------

function onBind(session, pdu) {
  if (session.closed) return;
  let status = takeRule(config.bind_rules);
  if (status === undefined) status = config.bind_status || 0;
  if (!status && session.bind) status = ERR.ESME_RALYBND;
  if (!status && config.system_id && pdu.system_id !== config.system_id) status = ERR.ESME_RINVSYSID;
  if (!status && config.password && pdu.password !== config.password) status = ERR.ESME_RINVPASWD;
  received.binds.push({ session: session.id, command: pdu.command, system_id: pdu.system_id, status });
  if (status) {
    // node-smpp sends an error response as the bare header: no system_id body.
    session.send(pdu.response({ command_status: status }), () => {
      if (!session.bind) closeSession(session, 'bind_rejected', false);
    });
    return;
  }
  session.bind = BIND_KINDS[pdu.command];
  session.system_id = pdu.system_id;
  session.send(pdu.response({ system_id: 'nodesmsc' }));
  if (canReceive(session)) flushPending();
}

function onSubmit(session, pdu) {
  // node-smpp keeps emitting the PDUs it already read after the socket is destroyed (it
  // parses a whole read in one loop): an SMSC that cut the line never saw them.
  if (session.closed) return;
  if (!canTransmit(session)) {
    session.send(pdu.response({ command_status: ERR.ESME_RINVBNDSTS }));
    return;
  }
  session.submits += 1;
  received.submit_count += 1;
  const count = session.submits;
  const dropping = config.drop_after && (!config.drop_times || dropAfterCount < config.drop_times);
  const dropNow = dropping && count >= config.drop_after;
  const status = dropNow ? null : submitStatus();
  const n = status === 0 ? nextId++ : null;
  const messageId = n === null ? null : formatId(n, config.id_format);
  // Kept lean on the hot path: the parsed PDU is held and turned into JSON fields only
  // when someone asks (GET /received), which keeps a benchmark's submit rate up.
  const record = config.record === false ? null : {
    session: session.id, system_id: session.system_id, pdu, message_id: messageId, status,
    answered: false, t: Date.now(),
  };
  if (record) received.submits.push(record);
  if (dropNow) {
    dropAfterCount += 1;
    drop(session, 'drop_after');
    return;
  }
  if (config.no_answer || (dropping && config.drop_hold && count >= config.drop_after - config.drop_hold)) {
    return;
  }
  const early = !status && config.dr && config.dr.before_resp;
  const answer = () => {
    if (session.closed) return;
    if (early) scheduleReceipts(session, pdu, n, true);
    if (status && config.as_generic_nack) {
      session.send(new smpp.PDU('generic_nack', { sequence_number: pdu.sequence_number, command_status: status }));
    } else {
      // With a non-zero status node-smpp writes the header only (no message_id), as the spec allows.
      session.send(pdu.response(status ? { command_status: status } : { message_id: messageId }));
    }
    received.answered_count += 1;
    if (record) record.answered = true;
    if (!status && !early) scheduleReceipts(session, pdu, n, false);
  };
  if (config.delay_ms) setTimeout(answer, config.delay_ms); else answer();
}

function onSession(session) {
  session.id = sessions.length;
  session.bind = null;
  session.system_id = null;
  session.closed = false;
  session.submits = 0;
  session.outstanding = new Map(); // delivery id -> what to do if the session dies first
  session.remotePort = session.socket.remotePort;
  sessions.push(session);

  session.on('bind_transceiver', (pdu) => onBind(session, pdu));
  session.on('bind_transmitter', (pdu) => onBind(session, pdu));
  session.on('bind_receiver', (pdu) => onBind(session, pdu));
  session.on('submit_sm', (pdu) => onSubmit(session, pdu));
  session.on('enquire_link', (pdu) => {
    if (session.closed) return;
    received.enquire_links += 1;
    if (!config.ignore_enquire_link) session.send(pdu.response());
  });
  session.on('unbind', (pdu) => {
    if (session.closed) return;
    received.unbinds.push({ session: session.id, by: 'client' });
    session.send(pdu.response(), () => closeSession(session, 'unbind', false));
  });
  session.on('generic_nack', (pdu) => {
    received.generic_nacks.push({ session: session.id, status: pdu.command_status, seq: pdu.sequence_number });
  });
  // Requests this SMSC does not serve: command ids node-smpp does not know ('unknown'), and
  // the ones it knows that the aggregator does not support (query_sm, submit_multi, ...).
  // node-smpp itself answers nothing, which would leave the client waiting forever.
  session.on('pdu', (pdu) => {
    if (session.closed || pdu.isResponse() || HANDLED.has(pdu.command)) return;
    received.unknown.push({ session: session.id, command_id: pdu.command_id, command: pdu.command });
    if (config.unsupported_as_resp && pdu.command !== 'unknown' && smpp.commands[pdu.command + '_resp']) {
      session.send(pdu.response({ command_status: ERR.ESME_RINVCMDID }));
    } else {
      session.send(new smpp.PDU('generic_nack', {
        sequence_number: pdu.sequence_number, command_status: ERR.ESME_RINVCMDID,
      }));
    }
  });
  session.on('close', () => {
    if (!session.closed) received.disconnects.push({ session: session.id, reason: 'client' });
    session.closed = true;
    for (const onLost of [...session.outstanding.values()]) onLost();
  });
  // node-smpp emits 'error' for bad PDUs too and then stops reading that socket for good
  // (its _busy flag stays set), so a parse error ends the connection, as many SMSCs do.
  session.on('error', (e) => {
    received.errors.push({ session: session.id, message: String(e && e.message) });
    closeSession(session, 'error', true);
  });
}

// ---- control API ----------------------------------------------------------------------------

function json(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

// "all": every live bound session; a number: that session; "any" or absent: the first one.
// Deliveries (needReceiver) only go to receiver/transceiver binds.
// A session named by id need not be bound for raw bytes (to test a client mid-bind).
function targets(which, needReceiver) {
  const ok = (s) => s && !s.closed && s.bind && (!needReceiver || canReceive(s));
  if (which === 'all') return live().filter((s) => ok(s));
  if (which === undefined || which === null || which === 'any') {
    const first = live().find((s) => ok(s));
    return first ? [first] : [];
  }
  const s = sessions[which];
  if (!needReceiver) return s && !s.closed ? [s] : [];
  return ok(s) ? [s] : [];
}

// Deliver on each target; a request for "any" with no receiver bound is queued.
function deliverAll(kind, body, options) {
  const which = body.session === undefined ? 'any' : body.session;
  const chosen = targets(which, true);
  const deliveries = [];
  const sent = [];
  if (!chosen.length && which === 'any') {
    const d = newDelivery(kind, options, null);
    pending.push(d);
    return { sent, deliveries: [d.id], queued: 1 };
  }
  chosen.forEach((s) => {
    const d = newDelivery(kind, options, s.id);
    deliveries.push(d.id);
    sendDelivery(s, d);
    sent.push(s.id);
  });
  return { sent, deliveries, queued: 0 };
}

const MALFORMED = {
  // command_length 8: shorter than a header, the stream cannot be resynchronised
  short_length: () => header(8, 0x00000005, 0, 4243),
  // command_length says 64, 20 octets come: the client waits for the rest
  long_length: () => Buffer.concat([header(64, 0x00000005, 0, 4244), Buffer.from('ABCD')]),
  // command_length far above any sane PDU
  huge_length: () => header(0x7fffffff, 0x00000005, 0, 4245),
  // bytes that are no PDU at all
  garbage: () => Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'ascii'),
  // a well-framed PDU with a command_id nobody defined: answer generic_nack, stay bound
  unknown_command: () => header(16, 0x00000666, 0, 4246),
  // a well-framed deliver_sm whose service_type has no NUL inside it
  bad_body: () => Buffer.concat([header(24, 0x00000005, 0, 4247), Buffer.from('ABCDEFGH')]),
  // a deliver_sm whose TLV length runs past the end of the PDU
  bad_tlv: () => {
    const body = Buffer.concat([
      Buffer.from([0]), Buffer.from([1, 1]), Buffer.from('4477\0', 'ascii'),
      Buffer.from([0, 0]), Buffer.from('600\0', 'ascii'),
      Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 2]), Buffer.from('hi'),
      Buffer.from([0x04, 0x27, 0x00, 0x20, 0x02]),
    ]);
    return Buffer.concat([header(16 + body.length, 0x00000005, 0, 4248), body]);
  },
};

function header(length, id, status, seq) {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(length, 0);
  b.writeUInt32BE(id, 4);
  b.writeUInt32BE(status, 8);
  b.writeUInt32BE(seq, 12);
  return b;
}

function submitView(r) {
  const pdu = r.pdu;
  return {
    session: r.session, system_id: r.system_id, seq: pdu.sequence_number,
    service_type: pdu.service_type,
    source_addr_ton: pdu.source_addr_ton, source_addr_npi: pdu.source_addr_npi,
    source_addr: pdu.source_addr,
    dest_addr_ton: pdu.dest_addr_ton, dest_addr_npi: pdu.dest_addr_npi,
    destination_addr: pdu.destination_addr,
    esm_class: pdu.esm_class, protocol_id: pdu.protocol_id, priority_flag: pdu.priority_flag,
    registered_delivery: pdu.registered_delivery, data_coding: pdu.data_coding,
    short_message: Buffer.isBuffer(pdu.short_message) ? pdu.short_message.toString('hex') : '',
    tlvs: tlvsOf(pdu, smpp.commands.submit_sm.params),
    message_id: r.message_id, status: r.status, answered: r.answered, t: r.t,
  };
}

const routes = {
  // ?submits=0 leaves the (possibly long) submit list out
  'GET /received': (body, query) => Object.assign({}, received, {
    submits: query.get('submits') === '0' ? [] : received.submits.map(submitView),
  }),
  // ?from=N&limit=M: a slice of the submits, for polling a long run
  'GET /submits': (body, query) => {
    const from = Number(query.get('from') || 0);
    const limit = Number(query.get('limit') || received.submits.length);
    return received.submits.slice(from, from + limit).map(submitView);
  },
  'GET /stats': () => ({
    submits: received.submit_count, answered: received.answered_count,
    binds: received.binds.length, live_sessions: live().length, delivers: received.delivers.length,
    deliver_resps: received.deliver_resps.length, pending: pending.length,
    drops: received.drops.length, errors: received.errors.length,
  }),
  'GET /sessions': () => sessions.map((s) => ({
    id: s.id, bind: s.bind, bound: !!s.bind && !s.closed, closed: s.closed,
    system_id: s.system_id, submits: s.submits, remote_port: s.remotePort,
    close_reason: s.closeReason || null,
  })),
  'GET /config': () => config,
  'POST /config': (body) => Object.assign(config, body),
  // {"session": id|"any"|"all", "fields": {...}, "short_message_hex" | "text", "udh": {ref,
  //  total, seq, ref_bits}, "udh_hex", "sar": {ref, total, seq}, "message_payload_hex",
  //  "tlvs_hex": {"0x1403": "..."}} -> {"sent": [session ids], "deliveries", "queued"}
  'POST /deliver': (body) => deliverAll('mo', body, deliverOptions(body)),
  // A receipt with chosen fields: {"message_id", "state", "text": false|"raw text",
  //  "tlvs": false, "date_digits", "err", "esm_class", "source_addr", "destination_addr",
  //  "network_error_code", "session", "fields": {...overrides}}
  'POST /dr': (body) => deliverAll('dr', body,
    Object.assign(receiptOptions(body), deliverOptions({ fields: body.fields, tlvs_hex: body.tlvs_hex }))),
  // {"hex": "...", "session"}: octets as they are
  'POST /raw': (body) => {
    const chosen = targets(body.session === undefined ? 'all' : body.session, false);
    chosen.forEach((s) => s.socket.write(Buffer.from(body.hex, 'hex')));
    return { sent: chosen.map((s) => s.id) };
  },
  // {"kind": one of MALFORMED, "session"}
  'POST /malformed': (body) => {
    const make = MALFORMED[body.kind];
    if (!make) throw new Error(`kind must be one of ${Object.keys(MALFORMED).join(', ')}`);
    const chosen = targets(body.session === undefined ? 'all' : body.session, false);
    chosen.forEach((s) => {
      s.socket.write(make());
      received.malformed_sent.push({ session: s.id, kind: body.kind });
    });
    return { sent: chosen.map((s) => s.id) };
  },
  // {"session"} (default all): destroy the socket, no unbind
  'POST /drop': (body) => {
    const chosen = body.session === undefined ? sessions.filter((s) => !s.closed)
      : [sessions[body.session]].filter((s) => s && !s.closed);
    chosen.forEach((s) => drop(s, 'control'));
    return { dropped: chosen.length };
  },
  // {"session"} (default all): the SMSC unbinds, then closes once answered (or after 1 s)
  'POST /unbind': (body) => {
    const chosen = targets(body.session === undefined ? 'all' : body.session, false);
    chosen.forEach((s) => {
      received.unbinds.push({ session: s.id, by: 'smsc' });
      const timer = setTimeout(() => closeSession(s, 'unbind', false), 1000);
      s.unbind(() => { clearTimeout(timer); closeSession(s, 'unbind', false); });
    });
    return { sent: chosen.map((s) => s.id) };
  },
  'POST /reset': () => {
    resetRecords();
    return {};
  },
};

const control = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const url = new URL(req.url, 'http://control');
    const route = routes[`${req.method} ${url.pathname}`];
    if (!route) return json(res, 404, { error: `no ${req.method} ${req.url}` });
    let body;
    try {
      body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
    } catch (e) {
      return json(res, 400, { error: `bad JSON: ${e.message}` });
    }
    try {
      return json(res, 200, route(body || {}, url.searchParams));
    } catch (e) {
      return json(res, 400, { error: String(e && e.stack) });
    }
  });
});

// node-smpp picks TLS when key and cert are given (its SecureServer is a tls.Server).
const server = config.tls
  ? smpp.createServer({
    key: config.tls.key_pem || fs.readFileSync(config.tls.key),
    cert: config.tls.cert_pem || fs.readFileSync(config.tls.cert),
  }, onSession)
  : smpp.createServer(onSession);
server.on('tlsClientError', (e) => {
  received.errors.push({ session: null, message: `tls: ${e.message}` });
});
server.on('error', (e) => {
  process.stderr.write(`smsc: ${e.stack}\n`);
  process.exit(1);
});

server.listen(config.port || 0, '127.0.0.1', () => {
  control.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({
      smpp_port: server.address().port, control_port: control.address().port,
      tls: !!config.tls, pid: process.pid,
    }) + '\n');
  });
});

// The test runner owns this process: stop with it (its end of stdin closes when it dies).
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
