import { createHash } from 'node:crypto';

/**
 * The small pages a person logs in and out with, and sees their sessions on. Plain HTML and
 * a few lines of script: the callback page exists because the session cookie is
 * SameSite=Strict, so it is not sent on the provider's cross-site redirect — the page's own
 * same-origin POST is. What the API answers is put on a page as text (textContent), never
 * as HTML: a session's user agent is whatever the browser that logged in sent.
 */
const page = (title: string, body: string, script: string) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Bodhi</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem; color: #1f2328; }
  h1 { font-size: 1.5rem; }
  button { font-size: 1rem; padding: .5rem 1.25rem; border-radius: .4rem; border: 1px solid #888; cursor: pointer; }
  .error { color: #b42318; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
  ul.sessions { list-style: none; padding: 0; }
  ul.sessions li { border: 1px solid #d0d7de; border-radius: .4rem; padding: .75rem 1rem; margin-bottom: .75rem; }
  .current { margin-left: .5rem; padding: 0 .4rem; border-radius: .4rem; background: #dafbe1; font-size: .875rem; }
  .detail { color: #59636e; font-size: .875rem; }
</style>
</head>
<body>
<main>
${body}
</main>
<script>
const api = (path, body, method = body === undefined ? 'GET' : 'POST') => fetch('/bodhi/v1' + path, {
  method,
  credentials: 'same-origin',
  headers: body === undefined ? {} : { 'content-type': 'application/json' },
  body: body === undefined ? undefined : JSON.stringify(body),
}).then(async (res) => ({ ok: res.ok, data: await res.json().catch(() => ({})) }));
const show = (id, text) => { const el = document.getElementById(id); el.textContent = text; el.hidden = false; };
const failure = (data) => (data && data.error && data.error.message) || 'Something went wrong';
${script}
</script>
</body>
</html>
`;

export const LOGIN_PAGE = page(
  'Log in',
  `<h1>Bodhi</h1>
<p>Log in to continue.</p>
<button id="login">Log in</button>
<p id="error" class="error" role="alert" hidden></p>`,
  `document.getElementById('login').addEventListener('click', async () => {
  const { ok, data } = await api('/auth/initiate', {});
  if (ok && data.location) window.location.assign(data.location);
  else show('error', failure(data));
});`,
);

export const CALLBACK_PAGE = page(
  'Logging in',
  `<h1>Logging in…</h1>
<p id="error" class="error" role="alert" hidden></p>
<p><a id="retry" href="/ui/login" hidden>Back to log in</a></p>`,
  `(async () => {
  const params = Object.fromEntries(new URLSearchParams(window.location.search));
  const { ok, data } = await api('/auth/callback', params);
  if (ok && data.location) return window.location.replace(data.location);
  show('error', failure(data));
  document.getElementById('retry').hidden = false;
})();`,
);

export const HOME_PAGE = page(
  'Home',
  `<h1>Bodhi</h1>
<section id="user" hidden>
  <p>Logged in as <strong id="name"></strong></p>
  <dl><dt>Username</dt><dd id="username"></dd><dt>Role</dt><dd id="role"></dd></dl>
  <p><a href="/ui/sessions">Your sessions</a></p>
  <button id="logout">Log out</button>
</section>
<section id="anonymous" hidden>
  <p id="status">You are logged out.</p>
  <p><a href="/ui/login">Log in</a></p>
</section>
<p id="error" class="error" role="alert" hidden></p>`,
  `(async () => {
  const { ok, data } = await api('/user');
  if (ok && data.auth_status === 'logged_in') {
    document.getElementById('name').textContent = [data.first_name, data.last_name].filter(Boolean).join(' ') || data.username;
    document.getElementById('username').textContent = data.username;
    document.getElementById('role').textContent = data.role || 'none';
    document.getElementById('user').hidden = false;
  } else if (ok || data?.error?.type === 'authentication_error') {
    document.getElementById('anonymous').hidden = false;
  } else {
    show('error', failure(data));
  }
})();
document.getElementById('logout').addEventListener('click', async () => {
  const { ok, data } = await api('/logout', {});
  if (ok && data.location) window.location.assign(data.location);
  else show('error', failure(data));
});`,
);

export const SESSIONS_PAGE = page(
  'Your sessions',
  `<h1>Your sessions</h1>
<section id="signed-in" hidden>
  <p>Where you are logged in. Sign out of any session you do not recognise.</p>
  <ul id="sessions" class="sessions" aria-label="Sessions"></ul>
  <button id="others" hidden>Sign out all other sessions</button>
  <p><a href="/ui/home">Back to home</a></p>
</section>
<section id="anonymous" hidden>
  <p>You are logged out.</p>
  <p><a href="/ui/login">Log in</a></p>
</section>
<p id="error" class="error" role="alert" hidden></p>`,
  `const UNITS = [['year', 31536e6], ['month', 2592e6], ['week', 6048e5], ['day', 864e5], ['hour', 36e5], ['minute', 6e4], ['second', 1e3]];
const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
const ago = (iso) => {
  if (!iso) return 'unknown';
  const ms = Date.parse(iso) - Date.now();
  const [unit, size] = UNITS.find(([, size]) => Math.abs(ms) >= size) || UNITS[UNITS.length - 1];
  return relative.format(Math.round(ms / size), unit);
};
const element = (tag, text, className) => {
  const el = document.createElement(tag);
  if (text !== undefined) el.textContent = text;
  if (className) el.className = className;
  return el;
};
const device = (s) => [s.browser || 'Unknown browser', s.os].filter(Boolean).join(' on ');
const row = (s) => {
  const item = element('li');
  const name = element('strong', device(s));
  name.title = s.user_agent || '';
  item.append(name);
  if (s.current) item.append(element('span', 'This device', 'current'));
  item.append(
    element('div', 'Address: ' + (s.ip || 'unknown'), 'detail'),
    // This device is the one in use: its stored last-seen lags by up to the touch throttle.
    element('div', s.current ? 'Active now' : 'Last seen ' + ago(s.last_seen_at || s.created_at), 'detail'),
  );
  // On this device too: signing it out here logs this browser out.
  const button = element('button', 'Sign out');
  button.addEventListener('click', () => end('/user/sessions/' + encodeURIComponent(s.id)));
  item.append(button);
  return item;
};
const load = async () => {
  const { ok, data } = await api('/user/sessions');
  if (ok) {
    document.getElementById('sessions').replaceChildren(...data.map(row));
    document.getElementById('others').hidden = !data.some((s) => !s.current);
    document.getElementById('signed-in').hidden = false;
  } else if (data?.error?.type === 'authentication_error') {
    document.getElementById('signed-in').hidden = true;
    document.getElementById('anonymous').hidden = false;
  } else {
    show('error', failure(data));
  }
};
const end = async (path) => {
  const { ok, data } = await api(path, undefined, 'DELETE');
  if (!ok) show('error', failure(data));
  // Either way: a session another tab ended (404) leaves the list, as does this one.
  await load();
};
document.getElementById('others').addEventListener('click', () => end('/user/sessions?current=false'));
load();`,
);

/** The `'sha256-…'` source of the one `<tag>` element of `html`, as a browser hashes it. */
function inlineHash(html: string, tag: 'script' | 'style'): string {
  const elements = [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))];
  // A second element would be refused by the page's own CSP: say so here, at load.
  if (elements.length !== 1) throw new Error(`a UI page must have one <${tag}>`);
  return `'sha256-${createHash('sha256').update(elements[0][1], 'utf8').digest('base64')}'`;
}

/**
 * A page's Content-Security-Policy directives (helmet's form): nothing but its own inline
 * script and style, allowed by hash, and same-origin fetches. Hashes rather than nonces: the
 * pages are constant, so each hash is computed once, here, and the policy needs no
 * per-response state; an injected script or style (or an edited one whose hash was not
 * recomputed) does not run.
 */
export function pageCspDirectives(html: string): Record<string, string[]> {
  return {
    defaultSrc: ["'none'"],
    scriptSrc: [inlineHash(html, 'script')],
    styleSrc: [inlineHash(html, 'style')],
    connectSrc: ["'self'"],
    formAction: ["'self'"],
    baseUri: ["'none'"],
    frameAncestors: ["'none'"],
  };
}
