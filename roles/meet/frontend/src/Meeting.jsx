// Inside the meeting: video grid, controls, participants (raised hands first), chat,
// reactions, and for the owner and moderators the lobby and moderation. Every label is the
// app's own (translated); LiveKit's components render the media only.
import { useEffect, useState } from 'react';
import {
  AudioTrack,
  ConnectionQualityIndicator,
  DisconnectButton,
  FocusToggle,
  GridLayout,
  isTrackReference,
  LiveKitRoom,
  ParticipantPlaceholder,
  ParticipantTile,
  RoomAudioRenderer,
  TrackMutedIndicator,
  TrackToggle,
  useEnsureTrackRef,
  VideoTrack,
  useChat,
  useConnectionState,
  useDataChannel,
  useLocalParticipant,
  useParticipantAttributes,
  useParticipants,
  useRoomContext,
  useTracks,
} from '@livekit/components-react';
import { ConnectionState, RoomEvent, Track } from 'livekit-client';
import {
  endMeeting, lobbyDecide, lobbyList, moderate, muteAll, raiseHand, roomSettings,
} from './api.js';
import AccessSelect from './AccessSelect.jsx';
import { LanguageSwitch, useI18n } from './i18n.js';

const REACTIONS = ['👍', '👏', '😂', '❤️', '🎉'];
const REACTION_MS = 6000;
const LOBBY_POLL_MS = 2000;

function useAttributesVersion() {
  // Re-render when anyone's attributes or mute state change (role, raised hand, muted).
  const room = useRoomContext();
  const [version, setVersion] = useState(0);
  useEffect(() => {
    const bump = () => setVersion((v) => v + 1);
    const events = [RoomEvent.ParticipantAttributesChanged, RoomEvent.TrackMuted,
      RoomEvent.TrackUnmuted, RoomEvent.TrackPublished, RoomEvent.TrackUnpublished,
      RoomEvent.LocalTrackPublished, RoomEvent.LocalTrackUnpublished];
    events.forEach((e) => room.on(e, bump));
    return () => events.forEach((e) => room.off(e, bump));
  }, [room]);
  return version;
}

function micOff(p) {
  const pub = p.getTrackPublication(Track.Source.Microphone);
  return !pub || pub.isMuted;
}

function camOff(p) {
  const pub = p.getTrackPublication(Track.Source.Camera);
  return !pub || pub.isMuted;
}

// A participant's name as others see it: a guest's is marked, in the viewer's language, so
// that a guest cannot pass for a signed-in colleague of the same name.
function personName(p, t) {
  if (!p) return '';
  const name = p.name || p.identity;
  return p.attributes?.kind === 'guest' ? `${name} (${t('guest')})` : name;
}

// LiveKit's tile with the app's own labels (its default tile names a shared screen in
// English and knows nothing of guests); the media, placeholder and indicators are LiveKit's.
function Tile() {
  const { t } = useI18n();
  const trackRef = useEnsureTrackRef();
  const p = trackRef.participant;
  const screen = trackRef.source === Track.Source.ScreenShare;
  const video = isTrackReference(trackRef) && (screen || trackRef.source === Track.Source.Camera
    || trackRef.publication?.kind === 'video');
  return (
    <ParticipantTile>
      {video && <VideoTrack trackRef={trackRef} />}
      {!video && isTrackReference(trackRef) && <AudioTrack trackRef={trackRef} />}
      <div className="lk-participant-placeholder"><ParticipantPlaceholder /></div>
      <div className="lk-participant-metadata">
        <div className="lk-participant-metadata-item">
          {!screen && <TrackMutedIndicator trackRef={{ participant: p, source: Track.Source.Microphone }} show="muted" />}
          <span className="lk-participant-name sovmeet-tile-name">
            {screen ? t('screenOf', { name: personName(p, t) }) : personName(p, t)}
          </span>
        </div>
        <ConnectionQualityIndicator className="lk-participant-metadata-item" />
      </div>
      <FocusToggle trackRef={trackRef} />
    </ParticipantTile>
  );
}

function Toast({ message, onDone }) {
  useEffect(() => {
    if (!message) return undefined;
    const timer = setTimeout(onDone, 6000);
    return () => clearTimeout(timer);
  }, [message]);
  return message ? <div className="sovmeet-toast" role="alert">{message}</div> : null;
}

function Participants({ room, myRole, report }) {
  const { t } = useI18n();
  const participants = useParticipants();
  useAttributesVersion();
  const moderator = myRole === 'owner' || myRole === 'moderator';
  const sorted = [...participants].sort((a, b) => {
    const ha = Number(a.attributes?.hand || 0);
    const hb = Number(b.attributes?.hand || 0);
    if (ha && hb) return ha - hb;
    if (ha || hb) return ha ? -1 : 1;
    return (a.name || '').localeCompare(b.name || '');
  });
  const hands = sorted.filter((p) => p.attributes?.hand).length;
  async function act(p, action, body) {
    if (action === 'remove' && !window.confirm(t('confirmRemove', { name: p.name }))) return;
    const { status, data } = await moderate(room, p.identity, action, body);
    if (status !== 200) report(t('refused', { error: data.error || status }));
  }
  return (
    <section className="sovmeet-participants" aria-label={t('participants', { count: participants.length })}>
      <h2>{t('participants', { count: participants.length })}</h2>
      {hands > 0 && <p className="sovmeet-hands">✋ {t('hands', { count: hands })}</p>}
      <ul>
        {sorted.map((p) => {
          const role = p.attributes?.role;
          const guest = p.attributes?.kind === 'guest';
          const muted = micOff(p);
          return (
            <li key={p.identity} data-identity={p.identity} data-name={p.name}
              data-mic={muted ? 'off' : 'on'} data-cam={camOff(p) ? 'off' : 'on'} data-role={role || 'participant'}
              data-hand={p.attributes?.hand ? 'raised' : 'down'}>
              {p.attributes?.hand && <span className="sovmeet-hand" title={t('handRaised')}>✋ </span>}
              <span className="sovmeet-name">{p.name || p.identity}</span>
              {p.isLocal && <span className="sovmeet-badge"> ({t('you')})</span>}
              {(role === 'owner' || role === 'moderator') && <span className="sovmeet-badge"> · {t(role)}</span>}
              {guest && <span className="sovmeet-badge"> · {t('guest')}</span>}
              {muted && <span className="sovmeet-badge sovmeet-muted"> · {t('muted')}</span>}
              {moderator && !p.isLocal && (
                <span className="sovmeet-actions">
                  <button type="button" className="lk-button sovmeet-mute-mic" onClick={() => act(p, 'mute', { source: 'microphone' })}>{t('muteMic')}</button>
                  <button type="button" className="lk-button sovmeet-mute-camera" onClick={() => act(p, 'mute', { source: 'camera' })}>{t('muteCamera')}</button>
                  {!guest && role !== 'owner' && role !== 'moderator' && (
                    <button type="button" className="lk-button sovmeet-promote" onClick={() => act(p, 'promote')}>{t('promote')}</button>
                  )}
                  {role !== 'owner' && (
                    <button type="button" className="lk-button sovmeet-remove" onClick={() => act(p, 'remove')}>{t('remove')}</button>
                  )}
                </span>
              )}
            </li>
          );
        })}
      </ul>
    </section>
  );
}

function Lobby({ room, report }) {
  const { t } = useI18n();
  const [waiting, setWaiting] = useState([]);
  useEffect(() => {
    let stop = false;
    let timer;
    const tick = async () => {
      const { status, data } = await lobbyList(room);
      if (stop) return;
      if (status === 200) setWaiting(data.waiting);
      timer = setTimeout(tick, LOBBY_POLL_MS);
    };
    tick();
    return () => { stop = true; clearTimeout(timer); };
  }, [room]);
  async function decide(w, admit) {
    const { status, data } = await lobbyDecide(room, w.id, admit);
    if (status !== 200) report(t('refused', { error: data.error || status }));
    setWaiting((list) => list.filter((x) => x.id !== w.id));
  }
  if (waiting.length === 0) return null;
  return (
    <section className="sovmeet-lobby" aria-live="polite">
      <h2>{t('lobbyTitle', { count: waiting.length })}</h2>
      <ul>
        {waiting.map((w) => (
          <li key={w.id} data-lobby-id={w.id} data-name={w.name} data-kind={w.kind}>
            <span className="sovmeet-name">{w.name}</span>
            <span className="sovmeet-badge"> · {t(w.kind)}</span>
            <button type="button" className="lk-button sovmeet-admit" onClick={() => decide(w, true)}>{t('admit')}</button>
            <button type="button" className="lk-button sovmeet-deny" onClick={() => decide(w, false)}>{t('deny')}</button>
          </li>
        ))}
      </ul>
    </section>
  );
}

function ModeratorTools({ room, myRole, access, setAccess, report }) {
  const { t } = useI18n();
  async function changeAccess(value) {
    const { status, data } = await roomSettings(room, { access: value });
    if (status === 200) setAccess(data.access); else report(t('refused', { error: data.error || status }));
  }
  async function all() {
    const { status, data } = await muteAll(room, 'microphone');
    if (status !== 200) report(t('refused', { error: data.error || status }));
  }
  async function end() {
    if (!window.confirm(t('confirmEnd'))) return;
    const { status, data } = await endMeeting(room);
    if (status !== 200) report(t('refused', { error: data.error || status }));
  }
  return (
    <section className="sovmeet-moderation">
      {myRole === 'owner' && (
        <label>{t('accessLevel')} <AccessSelect id="room-access" value={access} onChange={changeAccess} /></label>
      )}
      <button type="button" id="mute-all" className="lk-button" onClick={all}>{t('muteAll')}</button>
      <button type="button" id="end-meeting" className="lk-button lk-disconnect-button" onClick={end}>{t('endMeeting')}</button>
    </section>
  );
}

function Chat() {
  const { t, lang } = useI18n();
  const { chatMessages, send, isSending } = useChat();
  const [text, setText] = useState('');
  const time = new Intl.DateTimeFormat(lang, { timeStyle: 'short' });
  async function submit(e) {
    e.preventDefault();
    if (!text.trim()) return;
    await send(text);
    setText('');
  }
  return (
    <section className="sovmeet-chat" aria-label={t('chat')}>
      <ul className="sovmeet-chat-messages">
        {chatMessages.length === 0 && <li className="sovmeet-empty">{t('noMessages')}</li>}
        {chatMessages.map((m) => (
          <li key={m.id || m.timestamp}>
            <small>{personName(m.from, t)} · {time.format(new Date(m.timestamp))}</small>
            <div className="sovmeet-chat-text">{m.message}</div>
          </li>
        ))}
      </ul>
      <form onSubmit={submit}>
        <input id="chat-input" maxLength={2000} placeholder={t('messagePlaceholder')}
          aria-label={t('messagePlaceholder')} value={text} onChange={(e) => setText(e.target.value)} />
        <button className="lk-button" type="submit" disabled={isSending}>{t('send')}</button>
      </form>
    </section>
  );
}

function Reactions({ reactions }) {
  return (
    <ul className="sovmeet-reactions" aria-live="polite">
      {reactions.map((r) => (
        <li key={r.key} data-emoji={r.emoji} data-from={r.from}>{r.emoji} <small>{r.from}</small></li>
      ))}
    </ul>
  );
}

function Stage({ room, grant }) {
  const { t } = useI18n();
  const { localParticipant } = useLocalParticipant();
  const mine = useParticipantAttributes({ participant: localParticipant });
  const myRole = mine.attributes?.role || grant.role;
  const moderator = myRole === 'owner' || myRole === 'moderator';
  const [access, setAccess] = useState(grant.access);
  const [panel, setPanel] = useState('people');
  const [toast, setToast] = useState('');
  const [reactions, setReactions] = useState([]);
  const [copied, setCopied] = useState(false);
  const state = useConnectionState();
  const tracks = useTracks([
    { source: Track.Source.Camera, withPlaceholder: true },
    { source: Track.Source.ScreenShare, withPlaceholder: false },
  ], { onlySubscribed: false });
  const raised = Boolean(mine.attributes?.hand);

  function showReaction(emoji, from) {
    const key = `${Date.now()}-${Math.random()}`;
    setReactions((list) => [...list.slice(-9), { key, emoji, from }]);
    setTimeout(() => setReactions((list) => list.filter((r) => r.key !== key)), REACTION_MS);
  }
  const { send } = useDataChannel('reactions', (msg) => {
    const emoji = new TextDecoder().decode(msg.payload);
    if (REACTIONS.includes(emoji)) showReaction(emoji, personName(msg.from, t));
  });
  function react(emoji) {
    send(new TextEncoder().encode(emoji), { reliable: true });
    showReaction(emoji, localParticipant.name);
  }
  async function hand() {
    const { status, data } = await raiseHand(room, localParticipant.identity, !raised);
    if (status !== 200) setToast(t('refused', { error: data.error || status }));
  }
  async function copy() {
    try { await navigator.clipboard.writeText(grant.link); setCopied(true); } catch { setCopied(false); }
  }
  return (
    <>
      <header className="sovmeet-bar">
        <strong className="sovmeet-room-name">{grant.title || room}</strong>
        <span className="sovmeet-share">
          {t('meetingLink')}: <a id="room-link" href={grant.link}>{grant.link}</a>
          <button className="lk-button" type="button" onClick={copy}>{copied ? t('copied') : t('copy')}</button>
        </span>
        {state === ConnectionState.Reconnecting && <span className="sovmeet-reconnecting">{t('reconnecting')}</span>}
        <LanguageSwitch />
      </header>
      <div className="sovmeet-body">
        <div className="sovmeet-stage">
          <GridLayout tracks={tracks}><Tile /></GridLayout>
          <Reactions reactions={reactions} />
        </div>
        <aside className="sovmeet-side">
          {moderator && <Lobby room={room} report={setToast} />}
          <nav className="sovmeet-tabs">
            <button type="button" id="tab-people" className="lk-button" aria-pressed={panel === 'people'} onClick={() => setPanel('people')}>{t('peopleTab')}</button>
            <button type="button" id="tab-chat" className="lk-button sovmeet-chat-toggle" aria-pressed={panel === 'chat'} onClick={() => setPanel('chat')}>{t('chat')}</button>
          </nav>
          {/* Both panels stay mounted: messages arrive while the people panel is shown. */}
          <div hidden={panel !== 'people'}>
            {moderator && <ModeratorTools room={room} myRole={myRole} access={access} setAccess={setAccess} report={setToast} />}
            <Participants room={room} myRole={myRole} report={setToast} />
          </div>
          <div hidden={panel !== 'chat'}><Chat /></div>
        </aside>
      </div>
      <footer className="lk-control-bar sovmeet-controls">
        <TrackToggle source={Track.Source.Microphone} showIcon>{t('microphone')}</TrackToggle>
        <TrackToggle source={Track.Source.Camera} showIcon>{t('camera')}</TrackToggle>
        <TrackToggle source={Track.Source.ScreenShare} showIcon
          captureOptions={{ audio: true, selfBrowserSurface: 'include' }}>{t('shareScreen')}</TrackToggle>
        <button type="button" id="raise-hand" className="lk-button" aria-pressed={raised} onClick={hand}>
          ✋ {raised ? t('lowerHand') : t('raiseHand')}
        </button>
        <span className="sovmeet-react" role="group" aria-label={t('react')}>
          {REACTIONS.map((e) => (
            <button key={e} type="button" className="lk-button sovmeet-reaction" data-emoji={e} onClick={() => react(e)}>{e}</button>
          ))}
        </span>
        <DisconnectButton>{t('leave')}</DisconnectButton>
      </footer>
      <Toast message={toast} onDone={() => setToast('')} />
      <RoomAudioRenderer />
    </>
  );
}

export default function Meeting({ grant, choices, onDisconnected }) {
  const video = choices.video ? (choices.videoDevice ? { deviceId: choices.videoDevice } : true) : false;
  const audio = choices.audio ? (choices.audioDevice ? { deviceId: choices.audioDevice } : true) : false;
  return (
    <LiveKitRoom serverUrl={grant.url} token={grant.token} connect video={video} audio={audio}
      data-lk-theme="default" className="sovmeet-room" onDisconnected={onDisconnected}>
      <Stage room={grant.room} grant={grant} />
    </LiveKitRoom>
  );
}
