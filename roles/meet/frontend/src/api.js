// Calls to the sovmeet backend (same origin; the custom header makes cross-site
// requests impossible without a CORS preflight, which the backend never allows).
async function call(path, body) {
  const resp = await fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-Sovmeet-Request': '1' },
    body: JSON.stringify(body || {}),
  });
  let data = {};
  try {
    data = await resp.json();
  } catch {
    data = { error: `HTTP ${resp.status}` };
  }
  return { status: resp.status, data };
}

export const createRoom = () => call('/api/rooms');
export const roomToken = (room, guestName) =>
  call(`/api/rooms/${encodeURIComponent(room)}/token`, guestName ? { guest_name: guestName } : {});

export async function session() {
  const resp = await fetch('/api/session', { credentials: 'same-origin' });
  return resp.json();
}
