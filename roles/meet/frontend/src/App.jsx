import { useEffect, useState } from 'react';
import { createRoom, deleteRoom, myRooms, roomSettings, session } from './api.js';
import { I18nProvider, LanguageSwitch, useI18n } from './i18n.js';
import AccessSelect from './AccessSelect.jsx';
import Join from './Join.jsx';

function roomFromPath() {
  const match = window.location.pathname.match(/^\/r\/([a-z0-9-]+)$/);
  return match ? match[1] : null;
}

function RoomRow({ room, onChanged }) {
  const { t } = useI18n();
  const [editing, setEditing] = useState(false);
  const [title, setTitle] = useState(room.title);
  const [error, setError] = useState('');
  async function change(settings) {
    const { status, data } = await roomSettings(room.room, settings);
    if (status === 200) {
      setEditing(false);
      setError('');
      onChanged();
    } else {
      setError(data.error || `HTTP ${status}`);
    }
  }
  async function remove() {
    if (!window.confirm(t('confirmDelete', { name: room.title || room.room }))) return;
    const { status, data } = await deleteRoom(room.room);
    if (status === 200) onChanged(); else setError(data.error || `HTTP ${status}`);
  }
  return (
    <li className="sovmeet-room-row" data-room={room.room}>
      {editing ? (
        <form onSubmit={(e) => { e.preventDefault(); change({ title }); }}>
          <input className="sovmeet-title-input" aria-label={t('meetingTitle')} maxLength={80}
            value={title} onChange={(e) => setTitle(e.target.value)} />
          <button className="lk-button" type="submit">{t('save')}</button>
          <button className="lk-button" type="button" onClick={() => setEditing(false)}>{t('cancel')}</button>
        </form>
      ) : (
        <div>
          <a className="sovmeet-room-title" href={`/r/${room.room}`}>{room.title || t('untitled')}</a>
          <small> {room.room} · {t('createdOn', { date: room.created })}</small>
        </div>
      )}
      <div className="sovmeet-row-actions">
        <AccessSelect value={room.access} onChange={(access) => change({ access })} />
        <button className="lk-button sovmeet-rename" type="button" onClick={() => setEditing(true)}>{t('rename')}</button>
        <button className="lk-button sovmeet-delete" type="button" onClick={remove}>{t('delete')}</button>
      </div>
      {error && <p className="sovmeet-error" role="alert">{error}</p>}
    </li>
  );
}

function Home() {
  const { t } = useI18n();
  const [me, setMe] = useState(null);
  const [rooms, setRooms] = useState([]);
  const [error, setError] = useState('');
  const [title, setTitle] = useState('');
  const [access, setAccess] = useState('trusted');
  async function refresh() {
    const { status, data } = await myRooms();
    if (status === 200) setRooms(data.rooms);
  }
  useEffect(() => {
    session().then(({ status, data }) => {
      if (status === 200) setMe(data); else setError(t('unreachable'));
    });
    refresh();
  }, []);
  async function start(e) {
    e.preventDefault();
    setError('');
    const { status, data } = await createRoom({ title, access });
    if (status === 401 && data.login) {
      window.location.assign(data.login);
    } else if (status === 201) {
      window.location.assign(`/r/${data.room}`);
    } else {
      setError(data.error || t('couldNotCreate'));
    }
  }
  return (
    <main className="sovmeet-home">
      <header className="sovmeet-top">
        <h1>{t('app')}</h1>
        <LanguageSwitch />
      </header>
      {me && me.user && <p className="sovmeet-user">{t('signedInAs', { name: me.user.name })}</p>}
      <form className="sovmeet-new" onSubmit={start}>
        <label htmlFor="new-title">{t('meetingTitle')}</label>
        <input id="new-title" maxLength={80} value={title} onChange={(e) => setTitle(e.target.value)} />
        <label htmlFor="new-access">{t('accessLevel')}</label>
        <AccessSelect id="new-access" value={access} onChange={setAccess} />
        <button id="new-meeting" className="lk-button" type="submit">{t('newMeeting')}</button>
      </form>
      {error && <p className="sovmeet-error" role="alert">{error}</p>}
      <section className="sovmeet-my-rooms">
        <h2>{t('myRooms')}</h2>
        {rooms.length === 0 ? <p>{t('noRooms')}</p> : (
          <ul>{rooms.map((r) => <RoomRow key={r.room} room={r} onChanged={refresh} />)}</ul>
        )}
      </section>
      <p><a href="/logout">{t('signOut')}</a></p>
    </main>
  );
}

export default function App() {
  const room = roomFromPath();
  return <I18nProvider>{room ? <Join room={room} /> : <Home />}</I18nProvider>;
}
