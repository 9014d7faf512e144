import { useI18n } from './i18n.js';

export const ACCESS = ['public', 'trusted', 'restricted'];

// The room's access level, in words the user reads (owner-only on the server).
export default function AccessSelect({ id, value, onChange }) {
  const { t } = useI18n();
  return (
    <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
      {ACCESS.map((a) => <option key={a} value={a}>{t(`access_${a}`)}</option>)}
    </select>
  );
}
