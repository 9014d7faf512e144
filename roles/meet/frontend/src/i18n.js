// The app's words in each language it speaks. The language comes from the browser's
// preferences unless the user chose one with the switch (kept in this browser only).
// Plurals use Intl.PluralRules and dates Intl.DateTimeFormat of the chosen language.
import { createContext, createElement, useContext, useMemo, useState } from 'react';

export const LANGUAGES = { en: 'English', fr: 'Français', de: 'Deutsch' };

const en = {
  app: 'Meet',
  language: 'Language',
  signedInAs: 'Signed in as {name}',
  signOut: 'Sign out',
  signIn: 'I have an account: sign in',
  newMeeting: 'New meeting',
  meetingTitle: 'Title (optional)',
  accessLevel: 'Who can join directly',
  access_public: 'Anyone with the link',
  access_trusted: 'Signed-in people; guests wait',
  access_restricted: 'Only me and moderators; others wait',
  myRooms: 'My rooms',
  noRooms: 'You have no rooms yet.',
  createdOn: 'created {date}',
  open: 'Open',
  rename: 'Rename',
  save: 'Save',
  cancel: 'Cancel',
  delete: 'Delete',
  confirmDelete: 'Delete the room {name}? Its link stops working.',
  untitled: 'Untitled meeting',
  unreachable: 'The meeting service cannot be reached.',
  couldNotCreate: 'The meeting could not be created.',
  // pre-join
  readyToJoin: 'Ready to join?',
  camera: 'Camera',
  microphone: 'Microphone',
  cameraOn: 'Camera on',
  cameraOff: 'Camera off',
  micOn: 'Microphone on',
  micOff: 'Microphone off',
  yourName: 'Your name',
  join: 'Join',
  joining: 'Joining…',
  noCamera: 'No camera preview',
  deviceError: 'Your camera or microphone cannot be used: {error}',
  // lobby
  waiting: 'Waiting to be let in',
  waitingExplain: 'A moderator of this meeting has been told you are here. Keep this page open.',
  denied: 'You were not let in',
  deniedExplain: 'A moderator declined your request to join this meeting.',
  expired: 'Your request to join has expired',
  askAgain: 'Ask again',
  removed: 'You were removed from this meeting',
  removedExplain: 'A moderator removed you. You cannot rejoin this meeting.',
  ended: 'The meeting has ended',
  endedExplain: 'A moderator ended the meeting for everyone.',
  left: 'You left the meeting',
  rejoin: 'Rejoin',
  backHome: 'Back to the start page',
  cannotJoin: 'You cannot join this meeting.',
  lobbyTitle: 'Waiting to join ({count})',
  admit: 'Admit',
  deny: 'Deny',
  guest: 'guest',
  screenOf: 'Screen of {name}',
  member: 'signed in',
  // room
  meetingLink: 'Meeting link',
  copy: 'Copy',
  copied: 'Copied',
  participants: 'Participants ({count})',
  peopleTab: 'People',
  you: 'you',
  owner: 'owner',
  moderator: 'moderator',
  muted: 'muted',
  handRaised: 'hand raised',
  raiseHand: 'Raise hand',
  lowerHand: 'Lower hand',
  react: 'React',
  chat: 'Chat',
  send: 'Send',
  messagePlaceholder: 'Write a message',
  noMessages: 'No messages yet.',
  shareScreen: 'Share screen',
  stopShare: 'Stop sharing',
  leave: 'Leave',
  muteMic: 'Mute microphone',
  muteCamera: 'Turn camera off',
  muteAll: 'Mute everyone',
  remove: 'Remove',
  promote: 'Make moderator',
  endMeeting: 'End meeting for all',
  confirmEnd: 'End the meeting for everyone?',
  confirmRemove: 'Remove {name} from the meeting?',
  reconnecting: 'Reconnecting…',
  refused: 'Refused: {error}',
  hands: { one: '{count} raised hand', other: '{count} raised hands' },
  people: { one: '{count} person', other: '{count} people' },
};

const fr = {
  app: 'Réunion',
  language: 'Langue',
  signedInAs: 'Connecté·e en tant que {name}',
  signOut: 'Se déconnecter',
  signIn: 'J’ai un compte : me connecter',
  newMeeting: 'Nouvelle réunion',
  meetingTitle: 'Titre (facultatif)',
  accessLevel: 'Qui entre directement',
  access_public: 'Toute personne ayant le lien',
  access_trusted: 'Les personnes connectées ; les invités attendent',
  access_restricted: 'Seulement moi et les modérateurs ; les autres attendent',
  myRooms: 'Mes salles',
  noRooms: 'Vous n’avez pas encore de salle.',
  createdOn: 'créée le {date}',
  open: 'Ouvrir',
  rename: 'Renommer',
  save: 'Enregistrer',
  cancel: 'Annuler',
  delete: 'Supprimer',
  confirmDelete: 'Supprimer la salle {name} ? Son lien ne fonctionnera plus.',
  untitled: 'Réunion sans titre',
  unreachable: 'Le service de réunion est injoignable.',
  couldNotCreate: 'La réunion n’a pas pu être créée.',
  readyToJoin: 'Prêt·e à rejoindre ?',
  camera: 'Caméra',
  microphone: 'Micro',
  cameraOn: 'Caméra activée',
  cameraOff: 'Caméra désactivée',
  micOn: 'Micro activé',
  micOff: 'Micro coupé',
  yourName: 'Votre nom',
  join: 'Rejoindre',
  joining: 'Connexion…',
  noCamera: 'Pas d’aperçu de la caméra',
  deviceError: 'Votre caméra ou votre micro ne peut pas être utilisé : {error}',
  waiting: 'En attente d’admission',
  waitingExplain: 'Un modérateur de la réunion a été prévenu de votre arrivée. Gardez cette page ouverte.',
  denied: 'Votre demande a été refusée',
  deniedExplain: 'Un modérateur a refusé votre demande pour rejoindre cette réunion.',
  expired: 'Votre demande a expiré',
  askAgain: 'Redemander',
  removed: 'Vous avez été retiré·e de la réunion',
  removedExplain: 'Un modérateur vous a retiré·e. Vous ne pouvez pas rejoindre cette réunion.',
  ended: 'La réunion est terminée',
  endedExplain: 'Un modérateur a mis fin à la réunion pour tout le monde.',
  left: 'Vous avez quitté la réunion',
  rejoin: 'Rejoindre à nouveau',
  backHome: 'Retour à l’accueil',
  cannotJoin: 'Vous ne pouvez pas rejoindre cette réunion.',
  lobbyTitle: 'En attente ({count})',
  admit: 'Admettre',
  deny: 'Refuser',
  guest: 'invité',
  screenOf: 'Écran de {name}',
  member: 'connecté',
  meetingLink: 'Lien de la réunion',
  copy: 'Copier',
  copied: 'Copié',
  participants: 'Participants ({count})',
  peopleTab: 'Participants',
  you: 'vous',
  owner: 'propriétaire',
  moderator: 'modérateur',
  muted: 'micro coupé',
  handRaised: 'main levée',
  raiseHand: 'Lever la main',
  lowerHand: 'Baisser la main',
  react: 'Réagir',
  chat: 'Discussion',
  send: 'Envoyer',
  messagePlaceholder: 'Écrire un message',
  noMessages: 'Aucun message pour l’instant.',
  shareScreen: 'Partager l’écran',
  stopShare: 'Arrêter le partage',
  leave: 'Quitter',
  muteMic: 'Couper le micro',
  muteCamera: 'Couper la caméra',
  muteAll: 'Couper le micro de tous',
  remove: 'Retirer',
  promote: 'Nommer modérateur',
  endMeeting: 'Terminer la réunion pour tous',
  confirmEnd: 'Terminer la réunion pour tout le monde ?',
  confirmRemove: 'Retirer {name} de la réunion ?',
  reconnecting: 'Reconnexion…',
  refused: 'Refusé : {error}',
  hands: { one: '{count} main levée', other: '{count} mains levées' },
  people: { one: '{count} personne', other: '{count} personnes' },
};

const de = {
  app: 'Meet',
  language: 'Sprache',
  signedInAs: 'Angemeldet als {name}',
  signOut: 'Abmelden',
  signIn: 'Ich habe ein Konto: anmelden',
  newMeeting: 'Neue Besprechung',
  meetingTitle: 'Titel (optional)',
  accessLevel: 'Wer direkt eintritt',
  access_public: 'Alle mit dem Link',
  access_trusted: 'Angemeldete Personen; Gäste warten',
  access_restricted: 'Nur ich und Moderatoren; andere warten',
  myRooms: 'Meine Räume',
  noRooms: 'Sie haben noch keine Räume.',
  createdOn: 'erstellt am {date}',
  open: 'Öffnen',
  rename: 'Umbenennen',
  save: 'Speichern',
  cancel: 'Abbrechen',
  delete: 'Löschen',
  confirmDelete: 'Raum {name} löschen? Sein Link funktioniert dann nicht mehr.',
  untitled: 'Besprechung ohne Titel',
  unreachable: 'Der Besprechungsdienst ist nicht erreichbar.',
  couldNotCreate: 'Die Besprechung konnte nicht erstellt werden.',
  readyToJoin: 'Bereit zum Beitreten?',
  camera: 'Kamera',
  microphone: 'Mikrofon',
  cameraOn: 'Kamera an',
  cameraOff: 'Kamera aus',
  micOn: 'Mikrofon an',
  micOff: 'Mikrofon aus',
  yourName: 'Ihr Name',
  join: 'Beitreten',
  joining: 'Verbinden…',
  noCamera: 'Keine Kameravorschau',
  deviceError: 'Kamera oder Mikrofon nicht nutzbar: {error}',
  waiting: 'Warten auf Einlass',
  waitingExplain: 'Die Moderation wurde benachrichtigt. Lassen Sie diese Seite geöffnet.',
  denied: 'Sie wurden nicht eingelassen',
  deniedExplain: 'Die Moderation hat Ihre Anfrage abgelehnt.',
  expired: 'Ihre Anfrage ist abgelaufen',
  askAgain: 'Erneut anfragen',
  removed: 'Sie wurden aus der Besprechung entfernt',
  removedExplain: 'Die Moderation hat Sie entfernt. Sie können nicht erneut beitreten.',
  ended: 'Die Besprechung ist beendet',
  endedExplain: 'Die Moderation hat die Besprechung für alle beendet.',
  left: 'Sie haben die Besprechung verlassen',
  rejoin: 'Erneut beitreten',
  backHome: 'Zur Startseite',
  cannotJoin: 'Sie können dieser Besprechung nicht beitreten.',
  lobbyTitle: 'Wartend ({count})',
  admit: 'Einlassen',
  deny: 'Ablehnen',
  guest: 'Gast',
  screenOf: 'Bildschirm von {name}',
  member: 'angemeldet',
  meetingLink: 'Besprechungslink',
  copy: 'Kopieren',
  copied: 'Kopiert',
  participants: 'Teilnehmende ({count})',
  peopleTab: 'Teilnehmende',
  you: 'Sie',
  owner: 'Eigentümer',
  moderator: 'Moderation',
  muted: 'stumm',
  handRaised: 'Hand gehoben',
  raiseHand: 'Hand heben',
  lowerHand: 'Hand senken',
  react: 'Reagieren',
  chat: 'Chat',
  send: 'Senden',
  messagePlaceholder: 'Nachricht schreiben',
  noMessages: 'Noch keine Nachrichten.',
  shareScreen: 'Bildschirm teilen',
  stopShare: 'Teilen beenden',
  leave: 'Verlassen',
  muteMic: 'Mikrofon stummschalten',
  muteCamera: 'Kamera ausschalten',
  muteAll: 'Alle stummschalten',
  remove: 'Entfernen',
  promote: 'Zur Moderation machen',
  endMeeting: 'Besprechung für alle beenden',
  confirmEnd: 'Die Besprechung für alle beenden?',
  confirmRemove: '{name} aus der Besprechung entfernen?',
  reconnecting: 'Verbindung wird wiederhergestellt…',
  refused: 'Abgelehnt: {error}',
  hands: { one: '{count} gehobene Hand', other: '{count} gehobene Hände' },
  people: { one: '{count} Person', other: '{count} Personen' },
};

export const MESSAGES = { en, fr, de };
const STORE_KEY = 'sovmeet-language';

export function preferredLanguage() {
  try {
    const chosen = window.localStorage.getItem(STORE_KEY);
    if (chosen && MESSAGES[chosen]) return chosen;
  } catch {
    // storage disabled: the browser's preferences decide
  }
  for (const tag of navigator.languages || [navigator.language || 'en']) {
    const base = String(tag).toLowerCase().split('-')[0];
    if (MESSAGES[base]) return base;
  }
  return 'en';
}

export function translator(lang) {
  const messages = MESSAGES[lang] || en;
  const plurals = new Intl.PluralRules(lang);
  const dates = new Intl.DateTimeFormat(lang, { dateStyle: 'long', timeStyle: 'short' });
  const fill = (text, vars) => text.replace(/\{(\w+)\}/g, (_, k) => (
    k === 'date' && typeof vars[k] === 'number' ? dates.format(new Date(vars[k] * 1000)) : String(vars[k] ?? '')));
  return (key, vars = {}) => {
    let text = messages[key] ?? en[key] ?? key;
    if (typeof text === 'object') text = text[plurals.select(vars.count ?? 0)] ?? text.other;
    return fill(text, vars);
  };
}

const I18n = createContext({ lang: 'en', t: translator('en'), setLang: () => {} });

export function I18nProvider({ children }) {
  const [lang, setLangState] = useState(preferredLanguage);
  const value = useMemo(() => ({
    lang,
    t: translator(lang),
    setLang: (next) => {
      try { window.localStorage.setItem(STORE_KEY, next); } catch { /* not kept */ }
      setLangState(next);
    },
  }), [lang]);
  document.documentElement.lang = lang;
  return createElement(I18n.Provider, { value }, children);
}

export const useI18n = () => useContext(I18n);

export function LanguageSwitch() {
  const { lang, setLang, t } = useI18n();
  return createElement('label', { className: 'sovmeet-lang' }, `${t('language')} `,
    createElement('select', { id: 'language', value: lang, onChange: (e) => setLang(e.target.value) },
      Object.entries(LANGUAGES).map(([code, name]) => createElement('option', { key: code, value: code }, name))));
}
