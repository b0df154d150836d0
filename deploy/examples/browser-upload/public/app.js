// The page: sign in with the site's backend, get a signed form for the chosen file, POST the
// file straight to OSS with progress, and show the outcome from two independent sources: OSS's
// answer to the POST and the completion event streamed by the backend.
'use strict';

const $ = (id) => document.getElementById(id);
let events = null;
let current = null;  // { name, resolve } for the upload in flight
const seen = new Map();  // upload name -> event, for events that arrive before the POST returns

function setStatus(text, cls) {
  $('status').textContent = text;
  $('status').className = cls || '';
}

function showEvent(event) {
  $('event').textContent = JSON.stringify(event, null, 2);
  const state = event.upload.state;
  if (current && current.callbackFailed) {
    // OSS said 203 (it gave up on the callback, e.g. after 5 s) yet the service recorded the
    // callback: the outcome stays a failure for this page, with what the service knows beside it.
    setStatus(`${current.callbackFailed}; the service later recorded it as ${event.type}`, 'bad');
  } else if (event.type === 'COMPLETED') setStatus('COMPLETED', 'ok');
  else setStatus(`${event.type}${event.upload.rejectionReason ? `: ${event.upload.rejectionReason}` : ''}`, 'bad');
  $('detail').textContent = `${event.upload.bucket}/${event.upload.objectKey} is ${state}` +
    (event.upload.object ? ` (${event.upload.object.size} bytes, etag ${event.upload.object.etag})` : '');
}

// One EventSource per session; it reconnects by itself and resumes with Last-Event-ID.
function openEvents() {
  if (events) events.close();  // signing in again replaces the stream, it does not add one
  return new Promise((resolve) => {
    events = new EventSource('/api/events');
    events.addEventListener('ready', () => resolve());
    events.addEventListener('upload', (msg) => {
      const event = JSON.parse(msg.data);
      seen.set(event.upload.name, event);
      if (current && current.name === event.upload.name) showEvent(event);
    });
    // Events were purged before this page could read them: the stream goes on from now.
    events.addEventListener('reset', () => {
      $('who').textContent += ' (some upload events were missed; reload to see current states)';
    });
    // Retrying cannot help (a limit, or the backend's setup): stop, and say so.
    events.addEventListener('fatal', (msg) => {
      events.close();
      $('who').textContent += ` (no live updates: ${JSON.parse(msg.data).error})`;
      resolve();
    });
  });
}

$('signin').addEventListener('click', async () => {
  const res = await fetch('/api/login', { method: 'POST', headers: { 'Content-Type': 'application/json' },
                                          body: JSON.stringify({ user: $('user').value }) });
  const body = await res.json();
  if (!res.ok) return void ($('who').textContent = body.error);
  $('who').textContent = `signed in as ${body.user}`;
  await openEvents();
  $('uploader').disabled = false;
});

// OSS answers errors (and 203 CallbackFailed) in XML: <Error><Code/><Message/>...</Error>.
function ossError(xhr) {
  const doc = new DOMParser().parseFromString(xhr.responseText || '', 'application/xml');
  const text = (tag) => (doc.getElementsByTagName(tag)[0] || {}).textContent || '';
  return { code: text('Code'), message: text('Message') };
}

function post(form, file) {
  return new Promise((resolve) => {
    const data = new FormData();
    for (const f of form.fields) data.append(f.name, f.value);
    for (const name of form.clientFields) data.append(name, file.type || 'application/octet-stream');
    data.append(form.fileField, file);  // the file must be the last part
    const xhr = new XMLHttpRequest();
    xhr.open('POST', form.url);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) $('progress').value = Math.floor((100 * e.loaded) / e.total);
    };
    xhr.onload = () => resolve(xhr);
    xhr.onerror = () => resolve(xhr);
    xhr.send(data);
  });
}

$('upload').addEventListener('click', async () => {
  const file = $('file').files[0];
  if (!file) return setStatus('choose a file first', 'bad');
  $('progress').value = 0;
  $('callback').textContent = '-';
  $('event').textContent = '-';
  $('detail').textContent = '';
  setStatus('authorizing', 'wait');
  const res = await fetch('/api/uploads', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ fileName: file.name, contentType: file.type || 'application/octet-stream' }) });
  const created = await res.json();
  if (!res.ok) return setStatus(`the backend refused: ${created.error}`, 'bad');
  current = { name: created.upload.name };
  setStatus('uploading', 'wait');
  const xhr = await post(created.form, file);
  // Only 200 is success: OSS answers 203 when it stored the file but its callback failed, and
  // browsers treat every 2xx as success.
  if (xhr.status === 200) {
    $('callback').textContent = JSON.stringify(JSON.parse(xhr.responseText), null, 2);
    if (seen.has(current.name)) showEvent(seen.get(current.name));
    else setStatus('uploaded; waiting for the completion event', 'wait');
    return undefined;
  }
  if (xhr.status === 0) return setStatus('the upload failed: OSS could not be reached', 'bad');
  const err = ossError(xhr);
  $('callback').textContent = `HTTP ${xhr.status}\n${xhr.responseText}`;
  if (xhr.status === 203) {
    current.callbackFailed = `FAILED: OSS stored the file but the callback failed (${err.message})`;
    setStatus(current.callbackFailed, 'bad');
    if (seen.has(current.name)) showEvent(seen.get(current.name));
    return undefined;
  }
  if (err.code === 'EntityTooLarge') {
    return setStatus(`REFUSED by OSS: the file is larger than ${created.maxBytes} bytes`, 'bad');
  }
  return setStatus(`REFUSED by OSS: ${err.code} ${err.message}`, 'bad');
});
