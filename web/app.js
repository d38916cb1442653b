/* tsgw web console: plain JavaScript, no framework. Every value from the gateway is put into the
 * page with textContent (never as HTML). State-changing calls carry the session's CSRF token. */
'use strict';
(function () {
  var POLL_MS = 2000;
  var csrf = '';
  var rows = [];                       /* last Win32_TSGatewayConnection list */
  var sortKey = 'ConnectedTime', sortDir = 1;
  var timer = null, busy = false, signedOut = false;
  var pending = null;                  /* the action the dialog asks about */

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }

  /* WMI DATETIME yyyymmddHHMMSS.mmmmmm+UUU -> "2026-12-06 11:20:03" (the gateway's local time) */
  function wmiTime(s) {
    if (!/^\d{14}/.test(s || '')) return s || '';
    return s.slice(0, 4) + '-' + s.slice(4, 6) + '-' + s.slice(6, 8) + ' ' +
      s.slice(8, 10) + ':' + s.slice(10, 12) + ':' + s.slice(12, 14);
  }
  /* WMI interval ddddddddHHMMSS.mmmmmm:000 -> "2 d 01:02:03" or "01:02:03" */
  function wmiInterval(s) {
    if (!/^\d{14}/.test(s || '')) return s || '';
    var d = parseInt(s.slice(0, 8), 10);
    var t = s.slice(8, 10) + ':' + s.slice(10, 12) + ':' + s.slice(12, 14);
    return d ? d + ' d ' + t : t;
  }
  var TRANSPORT = { 0: 'RPC over HTTP', 1: 'HTTP', 2: 'UDP' };

  function api(path, opts) {
    opts = opts || {};
    opts.credentials = 'same-origin';
    opts.cache = 'no-store';
    opts.headers = opts.headers || {};
    opts.headers.Accept = 'application/json';
    return fetch(path, opts).then(function (r) {
      if (r.status === 401) { sessionEnded(); throw new Error('signed out'); }
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) throw new Error(j.error || ('HTTP ' + r.status));
        return j;
      });
    });
  }
  function post(path, fields) {
    var body = new URLSearchParams(fields);
    return api(path, { method: 'POST', body: body, headers: { 'X-CSRF-Token': csrf } });
  }

  function sessionEnded() {
    if (signedOut) return;
    signedOut = true;
    if (timer) clearTimeout(timer);
    var m = $('conn-error');
    m.textContent = '';
    m.appendChild(document.createTextNode('Your session has ended. '));
    var a = el('a', null, 'Sign in again');
    a.href = 'login';
    m.appendChild(a);
    m.hidden = false;
  }

  /* ---------- monitoring ---------- */

  function matches(r) {
    var q = $('filter').value.trim().toLowerCase();
    if (!q) return true;
    var by = $('fby').value;
    var user = (r.UserName + ' ' + (r.FullUserName || '')).toLowerCase();
    var res = (r.ConnectedResource + ':' + r.ConnectedPort).toLowerCase();
    if (by === 'user') return user.indexOf(q) >= 0;
    if (by === 'resource') return res.indexOf(q) >= 0;
    return user.indexOf(q) >= 0 || res.indexOf(q) >= 0;
  }
  function cmp(a, b) {
    var x = a[sortKey], y = b[sortKey];
    if (typeof x === 'string') { x = x.toLowerCase(); y = String(y).toLowerCase(); }
    if (x < y) return -sortDir;
    if (x > y) return sortDir;
    return a.TunnelId - b.TunnelId || a.ChannelId - b.ChannelId;
  }
  function userCount(list) {
    var seen = {}, n = 0;
    list.forEach(function (r) {
      var k = String(r.UserName).toLowerCase();
      if (!seen[k]) { seen[k] = true; n++; }
    });
    return n;
  }
  function connsOf(user) {
    var u = String(user).toLowerCase();
    return rows.filter(function (r) { return String(r.UserName).toLowerCase() === u; });
  }

  function cell(tr, label, cls, main, sub) {
    var td = el('td', cls);
    td.setAttribute('data-label', label);
    td.appendChild(el('span', null, main));
    if (sub !== undefined) td.appendChild(el('span', 'sub', sub));
    tr.appendChild(td);
  }
  function button(text, cls, label, fn) {
    var b = el('button', cls, text);
    b.type = 'button';
    b.setAttribute('aria-label', label);
    b.addEventListener('click', fn);
    return b;
  }
  /* the texts of a row's cells, in column order: [main, sub] (sub undefined: no sub line) */
  function rowTexts(r) {
    var since = wmiTime(r.ConnectedTime).split(' ');
    return [
      ['User', 'user', r.UserName, r.FullUserName || ''],
      ['Client', 'client', r.ClientAddress],
      ['Resource', 'resource', r.ConnectedResource + ':' + r.ConnectedPort,
        r.ProtocolName + ' over ' + (TRANSPORT[r.TransportProtocol] || r.TransportProtocol)],
      ['Connected since', 'since', since[1] || since[0], since[1] ? since[0] : ''],
      ['Duration', 'num duration', wmiInterval(r.ConnectionDuration)],
      ['Idle', 'num idle', wmiInterval(r.IdleTime)],
      ['KB sent', 'num sent', r.NumberOfKilobytesSent],
      ['KB received', 'num received', r.NumberOfKilobytesReceived],
      ['Key', 'key', r.ConnectionKey, 'tunnel ' + r.TunnelId + ' ch. ' + r.ChannelId]
    ];
  }
  function buildRow(r) {
    var tr = el('tr');
    tr.setAttribute('data-key', r.ConnectionKey);
    tr.setAttribute('data-user', r.UserName);
    rowTexts(r).forEach(function (c) { cell(tr, c[0], c[1], c[2], c[3]); });
    var td = el('td', 'actions');
    td.setAttribute('data-label', 'Actions');
    td.appendChild(button('Disconnect this connection', 'dis-conn',
      'Disconnect connection ' + r.ConnectionKey + ' of ' + r.UserName,
      function () { askConnection(r.ConnectionKey); }));
    td.appendChild(button('Disconnect this user', 'dis-user danger',
      'Disconnect every connection of ' + r.UserName,
      function () { askUser(r.UserName); }));
    tr.appendChild(td);
    return tr;
  }
  /* live values change in place: the row, its buttons and the keyboard focus stay */
  function fillRow(tr, r) {
    rowTexts(r).forEach(function (c, i) {
      var spans = tr.children[i].children;
      if (spans[0].textContent !== String(c[2])) spans[0].textContent = String(c[2]);
      if (spans[1] && spans[1].textContent !== String(c[3])) spans[1].textContent = String(c[3]);
    });
  }

  function render() {
    var tbody = $('rows');
    var shown = rows.filter(matches).sort(cmp);
    var old = {};
    Array.prototype.forEach.call(tbody.children, function (tr) {
      old[tr.getAttribute('data-key')] = tr;
    });
    var want = shown.map(function (r) {
      var tr = old[r.ConnectionKey];
      if (tr) {
        delete old[r.ConnectionKey];
        fillRow(tr, r);
        return tr;
      }
      return buildRow(r);
    });
    Object.keys(old).forEach(function (k) { tbody.removeChild(old[k]); });
    want.forEach(function (tr, i) {
      if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
    });
    var nu = userCount(rows);
    var t = plural(nu, 'user', 'users') + ', ' + plural(rows.length, 'connection', 'connections');
    if (shown.length !== rows.length) t += ' (' + shown.length + ' shown)';
    $('totals').textContent = t;
    var empty = $('empty');
    if (!rows.length) {
      empty.textContent = 'No one is connected through the gateway right now.';
      empty.hidden = false;
    } else if (!shown.length) {
      empty.textContent = 'No connection matches the filter.';
      empty.hidden = false;
    } else {
      empty.hidden = true;
    }
    $('conns').hidden = !shown.length;
    Array.prototype.forEach.call(document.querySelectorAll('th[data-col]'), function (th) {
      var k = th.getAttribute('data-col');
      if (k === sortKey) th.setAttribute('aria-sort', sortDir > 0 ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
    });
  }

  function loadConnections() {
    return api('api/connections').then(function (j) {
      rows = j.connections || [];
      $('conn-error').hidden = true;
      $('updated').textContent = 'Updated ' + new Date().toLocaleTimeString() +
        (j.truncated ? ' (list truncated: ' + j.total + ' connections in all)' : '');
      render();
    }).catch(function (e) {
      if (signedOut) return;
      var m = $('conn-error');
      m.textContent = 'Cannot read the connection list (' + e.message + '); retrying.';
      m.hidden = false;
    });
  }
  /* the visible view's data, every POLL_MS (not while paused or hidden, nor for the policy) */
  function poll() {
    timer = null;
    if (signedOut) return;
    var v = currentView();
    if ($('pause').checked || busy || document.hidden || v === 'policy') {
      schedule();
      return;
    }
    busy = true;
    (v === 'events' ? loadEvents() : loadConnections()).then(function () {
      busy = false;
      schedule();
    });
  }
  function schedule() {
    if (!timer && !signedOut) timer = setTimeout(poll, POLL_MS);
  }
  function refreshNow() {
    if (timer) { clearTimeout(timer); timer = null; }
    poll();
  }

  /* ---------- disconnect, with confirmation ---------- */

  function ask(title, text, yes, action) {
    pending = action;
    $('confirm-title').textContent = title;
    $('confirm-text').textContent = text;
    $('confirm-yes').textContent = yes;
    var d = $('confirm');
    d.returnValue = '';
    d.showModal();
    $('confirm-no').focus();
  }
  function askUser(user) {
    var list = connsOf(user);
    var full = list.length && list[0].FullUserName ? ' (' + list[0].FullUserName + ')' : '';
    ask('Disconnect this user',
      'Disconnect ' + user + full + '? This ends ' +
      (list.length === 1 ? 'the user\'s only connection' :
        'all ' + list.length + ' of the user\'s connections') + ' through the gateway.',
      'Disconnect ' + plural(list.length, 'connection', 'connections'),
      function () { return post('api/disconnect-user', { user: user }); });
  }
  function askConnection(key) {
    var r = rows.filter(function (x) { return x.ConnectionKey === key; })[0];
    if (!r) return;
    ask('Disconnect this connection',
      'Disconnect ' + r.UserName + (r.FullUserName ? ' (' + r.FullUserName + ')' : '') +
      ' from ' + r.ConnectedResource + ':' + r.ConnectedPort + ' (connection ' + key +
      ', client ' + r.ClientAddress + ')? This ends 1 connection; the user\'s other ' +
      'connections stay.',
      'Disconnect 1 connection',
      function () { return post('api/disconnect', { key: key }); });
  }
  function showResult(j) {
    var what = j.Method + '(' + (j.UserName !== undefined ? j.UserName : j.ConnectionKey) + ')';
    var t = what + ': ReturnValue = ' + j.ReturnValue + (j.Name ? ' (' + j.Name + ')' : '');
    if (j.ReturnValue === 0) t += ', ' + plural(j.Disconnected, 'connection', 'connections') + ' ended.';
    else if (j.ReturnValue === 2147749890) t += ': no such live connection any more.';
    var res = $('result');
    res.textContent = t;
    res.className = 'result ' + (j.ReturnValue === 0 ? 'ok' : 'warn');
  }
  function onDialogClose() {
    var d = $('confirm'), action = pending;
    pending = null;
    if (d.returnValue !== 'ok' || !action) return;
    var res = $('result');
    res.textContent = 'Working…';
    res.className = 'result';
    action().then(showResult).catch(function (e) {
      res.textContent = 'The request failed: ' + e.message;
      res.className = 'result err';
    }).then(refreshNow);
  }

  /* ---------- policy ---------- */

  var TITLES = {
    Win32_TSGatewayConnectionAuthorizationPolicy: 'Connection authorization policies (CAPs)',
    Win32_TSGatewayResourceAuthorizationPolicy: 'Resource authorization policies (RAPs)',
    Win32_TSGatewayResourceGroup: 'Resource groups',
    Win32_TSGatewayServerSettings: 'Server settings'
  };
  function loadPolicy() {
    api('api/policy').then(function (j) {
      var box = $('policy');
      box.textContent = '';
      $('policy-error').hidden = true;
      j.classes.forEach(function (c) {
        var sec = el('section', 'pol');
        sec.appendChild(el('h3', null, TITLES[c.name] || c.name));
        sec.appendChild(el('p', 'sub', c.name + ': ' + c.doc));
        if (!c.instances.length) {
          sec.appendChild(el('p', 'empty', 'None configured.'));
        }
        c.instances.forEach(function (inst) {
          var dl = el('dl', 'props');
          Object.keys(inst).forEach(function (k) {
            dl.appendChild(el('dt', null, k));
            var v = inst[k];
            dl.appendChild(el('dd', null, v === null ? '(none)' : v === '' ? '(empty)' : v));
          });
          sec.appendChild(dl);
        });
        box.appendChild(sec);
      });
    }).catch(function (e) {
      var m = $('policy-error');
      m.textContent = 'Cannot read the policy (' + e.message + ').';
      m.hidden = false;
    });
  }

  /* ---------- events ---------- */

  var EVENT_NAMES = {
    200: 'connection authorized (CAP met)', 201: 'connection refused / logon failed',
    202: 'disconnected by an administrator', 203: 'maximum connections reached',
    210: 'IN channel without OUT channel', 300: 'resource authorized (RAP met)',
    301: 'resource refused', 302: 'channel opened', 303: 'channel closed',
    304: 'resource unreachable', 307: 'session timeout'
  };
  var evFilled = false;
  function loadEvents() {
    var sel = $('ev-id');
    if (!evFilled) {
      evFilled = true;
      Object.keys(EVENT_NAMES).forEach(function (id) {
        var o = el('option', null, id + ' ' + EVENT_NAMES[id]);
        o.value = id;
        sel.appendChild(o);
      });
    }
    var q = new URLSearchParams();
    if (sel.value) q.set('id', sel.value);
    var f = $('ev-filter').value.trim();
    if (f) q.set('q', f);
    return api('api/events?' + q.toString()).then(function (j) {
      var tb = $('ev-rows');
      tb.textContent = '';
      $('ev-error').hidden = true;
      (j.events || []).forEach(function (e) {
        var tr = el('tr');
        var f = e.fields || {};
        cell(tr, 'Time', 'since', String(e.time).replace('T', ' ').replace('Z', ' UTC'));
        cell(tr, 'Event', 'num', e.id, EVENT_NAMES[e.id] || '');
        cell(tr, 'User', 'user', f.Username || '');
        cell(tr, 'Address', 'client', f.IpAddress || '');
        var rest = Object.keys(f).filter(function (k) {
          return k !== 'Username' && k !== 'IpAddress';
        }).map(function (k) { return k + '=' + f[k]; }).join('  ');
        cell(tr, 'Details', 'details', rest);
        tb.appendChild(tr);
      });
      var n = (j.events || []).length;
      $('events').hidden = !n;
      var em = $('ev-empty');
      em.textContent = 'No recent event matches.';
      em.hidden = !!n;
    }).catch(function (e) {
      var m = $('ev-error');
      m.textContent = 'Cannot read the events (' + e.message + ').';
      m.hidden = false;
    });
  }

  /* ---------- views ---------- */

  function currentView() {
    var v = location.hash.replace('#', '');
    return ['monitoring', 'policy', 'events'].indexOf(v) >= 0 ? v : 'monitoring';
  }
  function showView() {
    var v = currentView();
    ['monitoring', 'policy', 'events'].forEach(function (n) {
      $('view-' + n).hidden = n !== v;
    });
    Array.prototype.forEach.call(document.querySelectorAll('nav a'), function (a) {
      if (a.getAttribute('data-view') === v) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    });
    if (v === 'policy') loadPolicy();
    else refreshNow();
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll('th button[data-sort]'), function (b) {
      b.addEventListener('click', function () {
        var k = b.getAttribute('data-sort');
        if (k === sortKey) sortDir = -sortDir; else { sortKey = k; sortDir = 1; }
        render();
      });
    });
    $('filter').addEventListener('input', render);
    $('fby').addEventListener('change', render);
    $('confirm').addEventListener('close', onDialogClose);
    $('ev-id').addEventListener('change', refreshNow);
    $('ev-filter').addEventListener('input', refreshNow);
    window.addEventListener('hashchange', showView);
    api('api/session').then(function (s) {
      csrf = s.csrf;
      $('csrf').value = s.csrf;
      $('who').textContent = s.user;
      showView();
    }).catch(function (e) {
      if (signedOut) return;
      var m = $('conn-error');
      m.textContent = 'Cannot reach the gateway (' + e.message + '). Reload to retry.';
      m.hidden = false;
    });
  }
  document.addEventListener('DOMContentLoaded', start);
})();
