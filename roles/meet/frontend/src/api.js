// Calls to the sovmeet backend (same origin; the custom header makes cross-site
// requests impossible without a CORS preflight, which the backend never allows).
async function call(method, path, body) {
  let resp;
  try {
    resp = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-Sovmeet-Request': '1' },
      body: method === 'GET' ? undefined : JSON.stringify(body || {}),
    });
  } catch {
    return { status: 0, data: { error: 'network' } };
  }
  let data = {};
  try {
    data = await resp.json();
  } catch {
    data = { error: `HTTP ${resp.status}` };
  }
  return { status: resp.status, data };
}

const room = (name) => `/api/rooms/${encodeURIComponent(name)}`;

export const session = () => call('GET', '/api/session');
export const myRooms = () => call('GET', '/api/rooms');
export const createRoom = (settings) => call('POST', '/api/rooms', settings);
export const roomInfo = (name) => call('GET', room(name));
export const roomSettings = (name, settings) => call('POST', `${room(name)}/settings`, settings);
export const deleteRoom = (name) => call('POST', `${room(name)}/delete`);
export const joinRoom = (name, guestName) =>
  call('POST', `${room(name)}/token`, guestName ? { guest_name: guestName } : {});
export const lobbyNews = (name, id) => call('POST', `${room(name)}/lobby/${encodeURIComponent(id)}`);
export const lobbyList = (name) => call('GET', `${room(name)}/lobby`);
export const lobbyDecide = (name, id, admit) =>
  call('POST', `${room(name)}/lobby/${encodeURIComponent(id)}/${admit ? 'admit' : 'deny'}`);
export const moderate = (name, identity, action, body) =>
  call('POST', `${room(name)}/participants/${encodeURIComponent(identity)}/${action}`, body);
export const muteAll = (name, source) => call('POST', `${room(name)}/mute-all`, { source });
export const endMeeting = (name) => call('POST', `${room(name)}/end`);
export const raiseHand = (name, identity, raised) =>
  call('POST', `${room(name)}/hand`, { identity, raised });
