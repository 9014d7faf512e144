import { useEffect, useState } from 'react';
import {
  LiveKitRoom,
  VideoConference,
  useParticipants,
} from '@livekit/components-react';
import { createRoom, roomToken, session } from './api.js';

function roomFromPath() {
  const match = window.location.pathname.match(/^\/r\/([a-z0-9-]+)$/);
  return match ? match[1] : null;
}

function Home() {
  const [me, setMe] = useState(null);
  const [error, setError] = useState('');
  useEffect(() => {
    session().then(setMe).catch(() => setError('The meeting service cannot be reached.'));
  }, []);
  async function start() {
    setError('');
    const { status, data } = await createRoom();
    if (status === 401 && data.login) {
      window.location.assign(data.login);
    } else if (status === 201) {
      window.location.assign(`/r/${data.room}`);
    } else {
      setError(data.error || 'The meeting could not be created.');
    }
  }
  return (
    <main className="sovmeet-home">
      <h1>Meet</h1>
      {me && me.user && <p className="sovmeet-user">Signed in as {me.user.name}</p>}
      <button id="new-meeting" className="lk-button" type="button" onClick={start}>
        New meeting
      </button>
      {error && <p className="sovmeet-error" role="alert">{error}</p>}
      <p><a href="/logout">Sign out</a></p>
    </main>
  );
}

function ParticipantList() {
  const participants = useParticipants();
  return (
    <aside className="sovmeet-participants" aria-label="Participants">
      <h2>Participants ({participants.length})</h2>
      <ul>
        {participants.map((p) => (
          <li key={p.identity} data-identity={p.identity}>
            {p.name || p.identity}{p.isLocal ? ' (you)' : ''}
            {p.isMicrophoneEnabled ? '' : ' · muted'}
          </li>
        ))}
      </ul>
    </aside>
  );
}

function ShareLink({ link }) {
  const [copied, setCopied] = useState(false);
  async function copy() {
    try {
      await navigator.clipboard.writeText(link);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  }
  return (
    <div className="sovmeet-share">
      <span>Meeting link: </span>
      <a id="room-link" href={link}>{link}</a>
      <button className="lk-button" type="button" onClick={copy}>{copied ? 'Copied' : 'Copy'}</button>
    </div>
  );
}

function GuestForm({ onName }) {
  const [name, setName] = useState('');
  return (
    <form className="sovmeet-guest" onSubmit={(e) => { e.preventDefault(); onName(name); }}>
      <label htmlFor="guest-name">Your name</label>
      <input id="guest-name" maxLength={40} value={name} onChange={(e) => setName(e.target.value)} />
      <button className="lk-button" type="submit">Join as guest</button>
    </form>
  );
}

function Room({ room }) {
  const [grant, setGrant] = useState(null);
  const [error, setError] = useState('');
  const [needName, setNeedName] = useState(false);

  async function fetchToken(guestName) {
    const { status, data } = await roomToken(room, guestName);
    if (status === 200) {
      setGrant(data);
      setNeedName(false);
    } else if (status === 401 && data.login) {
      window.location.assign(data.login);
    } else if (data.guest) {
      setNeedName(true);
      if (guestName) setError(data.error);
    } else {
      setError(data.error || 'You cannot join this meeting.');
    }
  }
  useEffect(() => { fetchToken(); }, [room]);

  if (error && !needName) return <main className="sovmeet-error" role="alert">{error}</main>;
  if (needName) return <main><GuestForm onName={fetchToken} />{error && <p role="alert">{error}</p>}</main>;
  if (!grant) return <main className="sovmeet-loading">Joining…</main>;
  return (
    <LiveKitRoom
      serverUrl={grant.url}
      token={grant.token}
      connect
      video
      audio
      data-lk-theme="default"
      className="sovmeet-room"
      onDisconnected={() => window.location.assign('/')}
    >
      <header className="sovmeet-bar">
        <ShareLink link={grant.link} />
      </header>
      <div className="sovmeet-body">
        <VideoConference />
        <ParticipantList />
      </div>
    </LiveKitRoom>
  );
}

export default function App() {
  const room = roomFromPath();
  return room ? <Room room={room} /> : <Home />;
}
