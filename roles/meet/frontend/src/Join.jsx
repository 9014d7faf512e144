// From a room link to the meeting: the pre-join screen (preview, devices, name), then
// either the meeting or the lobby's waiting page, and a clear page for each way out.
import { useEffect, useRef, useState } from 'react';
import { useMediaDevices, usePreviewTracks } from '@livekit/components-react';
import { DisconnectReason, Track } from 'livekit-client';
import { joinRoom, lobbyNews, roomInfo, session } from './api.js';
import { LanguageSwitch, useI18n } from './i18n.js';
import Meeting from './Meeting.jsx';

const POLL_MS = 2000;

function DeviceSelect({ kind, value, onChange, label }) {
  const devices = useMediaDevices({ kind });
  return (
    <label className="sovmeet-device">{label}
      <select value={value} onChange={(e) => onChange(e.target.value)} data-kind={kind}>
        {devices.map((d) => <option key={d.deviceId} value={d.deviceId}>{d.label || d.deviceId}</option>)}
      </select>
    </label>
  );
}

function PreJoin({ info, me, onJoin, busy, error }) {
  const { t } = useI18n();
  const [video, setVideo] = useState(true);
  const [audio, setAudio] = useState(true);
  const [videoDevice, setVideoDevice] = useState('');
  const [audioDevice, setAudioDevice] = useState('');
  const [name, setName] = useState('');
  const [deviceError, setDeviceError] = useState('');
  const tracks = usePreviewTracks({
    video: video ? (videoDevice ? { deviceId: videoDevice } : true) : false,
    audio: audio ? (audioDevice ? { deviceId: audioDevice } : true) : false,
  }, (err) => setDeviceError(String(err.message || err)));
  const preview = useRef(null);
  const videoTrack = tracks?.find((tr) => tr.kind === Track.Kind.Video);
  useEffect(() => {
    if (videoTrack && preview.current) {
      videoTrack.attach(preview.current);
      return () => { videoTrack.detach(); };
    }
    return undefined;
  }, [videoTrack]);
  const guest = !me;
  function submit(e) {
    e.preventDefault();
    onJoin({ video, audio, videoDevice, audioDevice, guestName: guest ? name : undefined });
  }
  return (
    <main className="sovmeet-prejoin">
      <header className="sovmeet-top"><h1>{info.title || t('readyToJoin')}</h1><LanguageSwitch /></header>
      <div className="sovmeet-preview">
        {video && videoTrack
          ? <video ref={preview} muted playsInline autoPlay id="preview-video" />
          : <p className="sovmeet-no-preview">{t('noCamera')}</p>}
      </div>
      {deviceError && <p className="sovmeet-error" role="alert">{t('deviceError', { error: deviceError })}</p>}
      <form onSubmit={submit} className="sovmeet-prejoin-form">
        <div className="sovmeet-toggles">
          <button type="button" id="prejoin-camera" className="lk-button" aria-pressed={video}
            onClick={() => setVideo(!video)}>{video ? t('cameraOn') : t('cameraOff')}</button>
          <button type="button" id="prejoin-microphone" className="lk-button" aria-pressed={audio}
            onClick={() => setAudio(!audio)}>{audio ? t('micOn') : t('micOff')}</button>
        </div>
        {video && <DeviceSelect kind="videoinput" value={videoDevice} onChange={setVideoDevice} label={t('camera')} />}
        {audio && <DeviceSelect kind="audioinput" value={audioDevice} onChange={setAudioDevice} label={t('microphone')} />}
        <label htmlFor="display-name">{t('yourName')}</label>
        <input id="display-name" maxLength={40} value={guest ? name : me.name} readOnly={!guest}
          required onChange={(e) => setName(e.target.value)} />
        <button id="join" className="lk-button" type="submit" disabled={busy}>{busy ? t('joining') : t('join')}</button>
        {guest && <p><a id="sign-in" href={`/login?next=/r/${info.room}`}>{t('signIn')}</a></p>}
        {error && <p className="sovmeet-error" role="alert">{error}</p>}
      </form>
    </main>
  );
}

function Notice({ kind, title, text, action }) {
  const { t } = useI18n();
  return (
    <main className="sovmeet-notice" data-state={kind}>
      <header className="sovmeet-top"><span /><LanguageSwitch /></header>
      <h1>{title}</h1>
      {text && <p>{text}</p>}
      {action}
      <p><a href="/">{t('backHome')}</a></p>
    </main>
  );
}

export default function Join({ room }) {
  const { t } = useI18n();
  const [state, setState] = useState('loading');
  const [info, setInfo] = useState(null);
  const [me, setMe] = useState(null);
  const [grant, setGrant] = useState(null);
  const [choices, setChoices] = useState(null);
  const [error, setError] = useState('');
  const [wait, setWait] = useState(null);

  useEffect(() => {
    Promise.all([session(), roomInfo(room)]).then(([s, r]) => {
      if (r.status === 401 && r.data.login) { window.location.assign(r.data.login); return; }
      if (r.status !== 200) { setError(r.data.error || t('cannotJoin')); setState('error'); return; }
      setMe(s.data.user);
      setInfo(r.data);
      setState('prejoin');
    });
  }, [room]);

  function outcome(status, data) {
    if (status === 200 && data.token) {
      setGrant(data);
      setState('room');
    } else if (status === 202 && data.lobby) {
      setWait(data.lobby);
      setState('waiting');
    } else if (status === 401 && data.login) {
      window.location.assign(data.login);
    } else if (status === 403 && data.removed) {
      setState('removed');
    } else if (data.status === 'denied') {
      setState('denied');
    } else if (status === 410) {
      setState('expired');
    } else {
      setError(data.error || t('cannotJoin'));
      setState('prejoin');
    }
  }

  async function join(picked) {
    setChoices(picked);
    setError('');
    setState('joining');
    const { status, data } = await joinRoom(room, picked.guestName);
    outcome(status, data);
  }

  // The waiting page asks for news every two seconds; the backend drops a request
  // whose page stopped asking, so closing the page leaves the lobby.
  useEffect(() => {
    if (state !== 'waiting' || !wait) return undefined;
    let stop = false;
    const tick = async () => {
      if (stop) return;
      const { status, data } = await lobbyNews(room, wait);
      if (stop) return;
      if (status === 202) { setTimeout(tick, POLL_MS); return; }
      outcome(status, data);
    };
    const timer = setTimeout(tick, POLL_MS);
    return () => { stop = true; clearTimeout(timer); };
  }, [state, wait]);

  function disconnected(reason) {
    if (reason === DisconnectReason.PARTICIPANT_REMOVED) setState('removed');
    else if (reason === DisconnectReason.ROOM_DELETED) setState('ended');
    else setState('left');
  }

  const again = <button className="lk-button" type="button" onClick={() => join(choices)}>{t('askAgain')}</button>;
  switch (state) {
    case 'loading':
      return <main className="sovmeet-loading">{t('joining')}</main>;
    case 'error':
      return <Notice kind="error" title={t('cannotJoin')} text={error} />;
    case 'prejoin':
    case 'joining':
      return <PreJoin info={info} me={me} onJoin={join} busy={state === 'joining'} error={error} />;
    case 'waiting':
      return <Notice kind="waiting" title={t('waiting')} text={t('waitingExplain')} />;
    case 'denied':
      return <Notice kind="denied" title={t('denied')} text={t('deniedExplain')} />;
    case 'expired':
      return <Notice kind="expired" title={t('expired')} action={again} />;
    case 'removed':
      return <Notice kind="removed" title={t('removed')} text={t('removedExplain')} />;
    case 'ended':
      return <Notice kind="ended" title={t('ended')} text={t('endedExplain')} />;
    case 'left':
      return (
        <Notice kind="left" title={t('left')}
          action={<button className="lk-button" type="button" onClick={() => join(choices)}>{t('rejoin')}</button>} />
      );
    default:
      return <Meeting grant={grant} choices={choices} onDisconnected={disconnected} />;
  }
}
